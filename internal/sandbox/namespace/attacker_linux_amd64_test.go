package namespace

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// attackerEnv makes this test binary act as the attacker: copied into a
// sandbox and run there by a job, it performs the attacks named by its
// arguments instead of running tests.
const attackerEnv = "HOOKCI_TEST_ATTACKER"

func TestMain(m *testing.M) {
	if os.Getenv(attackerEnv) != "" {
		os.Exit(attackerMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// attackerMain runs one attack mode and prints its results:
//
//	syscalls            one line "<name> <result>" per syscallAttacks entry
//	handle TYPE HEX     open_by_handle_at on the working directory's mount;
//	                    "ok <content>" or "refused <errno>"
//
// A result is "ok" when the call succeeded, else the errno's name.
func attackerMain(args []string) int {
	if len(args) == 0 {
		fmt.Println("attacker: no mode")
		return 2
	}
	switch args[0] {
	case "syscalls":
		for _, a := range syscallAttacks() {
			fmt.Printf("%s %s\n", a.name, result(a.try()))
		}
		return 0
	case "handle":
		if len(args) != 3 {
			fmt.Println("attacker: handle TYPE HEX")
			return 2
		}
		typ, err1 := strconv.Atoi(args[1])
		raw, err2 := hex.DecodeString(args[2])
		if err := errors.Join(err1, err2); err != nil {
			fmt.Println("attacker:", err)
			return 2
		}
		dir, err := unix.Open(".", unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			fmt.Println("attacker:", err)
			return 2
		}
		fd, err := unix.OpenByHandleAt(dir, unix.NewFileHandle(int32(typ), raw), unix.O_RDONLY)
		if err != nil {
			fmt.Println("refused", result(err))
			return 0
		}
		buf := make([]byte, 256)
		n, _ := unix.Read(fd, buf)
		fmt.Printf("ok %q\n", buf[:max(n, 0)])
		return 0
	}
	if code, ok := containerAttack(args); ok { // container_test.go
		return code
	}
	if code, ok := agentAttack(args); ok { // agentattack_test.go
		return code
	}
	if code, ok := rootAttack(args); ok { // container_root_test.go
		return code
	}
	if code, ok := pid1Attack(args); ok { // pid1_test.go
		return code
	}
	if code, ok := volumeAttack(args); ok { // volume_test.go
		return code
	}
	fmt.Println("attacker: unknown mode", args[0])
	return 2
}

func result(err error) string {
	var errno unix.Errno
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &errno):
		return unix.ErrnoName(errno)
	}
	return "error:" + err.Error()
}

// syscallAttack is one system call a job tries; want is the errno the
// sandbox must answer with (EPERM from the seccomp filter, or from the
// missing capabilities where noted).
type syscallAttack struct {
	name string
	want string
	try  func() error
}

func raw(nr uintptr, args ...uintptr) error {
	var a [6]uintptr
	copy(a[:], args)
	_, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	if e != 0 {
		return e
	}
	return nil
}

func ptr[T any](p *T) uintptr { return uintptr(unsafe.Pointer(p)) }

func cstr(s string) uintptr {
	b, _ := unix.BytePtrFromString(s)
	return uintptr(unsafe.Pointer(b))
}

// syscallAttacks are the attacks of the "syscalls" mode. Names before the
// first space are the system calls of deniedSyscalls; each is tried with
// arguments that would do harm (or at least succeed) without the filter.
func syscallAttacks() []syscallAttack {
	agent := os.Getppid() // the agent started this process
	buf := make([]byte, 64)
	return []syscallAttack{
		{"mount remount,rw /usr", "EPERM", func() error { return unix.Mount("", "/usr", "", unix.MS_REMOUNT|unix.MS_BIND, "") }},
		{"mount tmpfs", "EPERM", func() error { return unix.Mount("tmpfs", "/tmp", "tmpfs", 0, "") }},
		{"umount2 /proc/sys", "EPERM", func() error { return unix.Unmount("/proc/sys", unix.MNT_DETACH) }},
		{"pivot_root", "EPERM", func() error { return unix.PivotRoot("/tmp", "/tmp") }},
		{"chroot", "EPERM", func() error { return unix.Chroot("/tmp") }},
		{"open_tree /usr", "EPERM", func() error { _, err := unix.OpenTree(unix.AT_FDCWD, "/usr", unix.OPEN_TREE_CLONE); return err }},
		{"open_tree_attr /usr", "EPERM", func() error {
			return raw(unix.SYS_OPEN_TREE_ATTR, atFDCWD(), cstr("/usr"), unix.OPEN_TREE_CLONE)
		}},
		{"move_mount", "EPERM", func() error { return unix.MoveMount(unix.AT_FDCWD, "/tmp", unix.AT_FDCWD, "/usr", 0) }},
		{"fsopen tmpfs", "EPERM", func() error { _, err := unix.Fsopen("tmpfs", 0); return err }},
		{"fsconfig", "EPERM", func() error { return raw(unix.SYS_FSCONFIG, 0, unix.FSCONFIG_CMD_CREATE) }},
		{"fsmount", "EPERM", func() error { _, err := unix.Fsmount(0, 0, 0); return err }},
		{"fspick /usr", "EPERM", func() error { return raw(unix.SYS_FSPICK, atFDCWD(), cstr("/usr"), 0) }},
		{"mount_setattr rw /usr", "EPERM", func() error {
			return unix.MountSetattr(unix.AT_FDCWD, "/usr", 0, &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY})
		}},
		{"name_to_handle_at .", "EPERM", func() error { _, _, err := unix.NameToHandleAt(unix.AT_FDCWD, ".", 0); return err }},
		{"open_by_handle_at", "EPERM", func() error {
			_, err := unix.OpenByHandleAt(unix.AT_FDCWD, unix.NewFileHandle(1, make([]byte, 8)), unix.O_RDONLY)
			return err
		}},
		{"setns uts", "EPERM", func() error {
			fd, err := unix.Open("/proc/self/ns/uts", unix.O_RDONLY, 0)
			if err != nil {
				return err
			}
			return unix.Setns(fd, 0)
		}},
		{"unshare(CLONE_NEWUSER)", "EPERM", func() error { return unix.Unshare(unix.CLONE_NEWUSER) }},
		{"unshare(CLONE_NEWUSER|CLONE_NEWNS)", "EPERM", func() error { return unix.Unshare(unix.CLONE_NEWUSER | unix.CLONE_NEWNS) }},
		{"clone(CLONE_NEWUSER)", "EPERM", cloneNewUser},
		{"clone3", "ENOSYS", func() error {
			args := struct{ flags, pidfd, childTID, parentTID, exitSignal, stack, stackSize, tls uint64 }{flags: unix.CLONE_NEWUSER, exitSignal: uint64(unix.SIGCHLD)}
			r, _, e := unix.RawSyscall(unix.SYS_CLONE3, ptr(&args), unsafe.Sizeof(args), 0)
			if e == 0 && r == 0 {
				unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0) // the child, should it exist
			}
			if e != 0 {
				return e
			}
			return nil
		}},
		{"ptrace attach agent", "EPERM", func() error {
			err := unix.PtraceAttach(agent)
			if err == nil { // let the agent go on
				var ws unix.WaitStatus
				unix.Wait4(agent, &ws, unix.WALL, nil)
				unix.PtraceDetach(agent)
			}
			return err
		}},
		{"process_vm_readv agent", "EPERM", func() error {
			_, err := unix.ProcessVMReadv(agent, []unix.Iovec{{Base: &buf[0], Len: 8}}, []unix.RemoteIovec{{Base: 0x400000, Len: 8}}, 0)
			return err
		}},
		{"process_vm_writev agent", "EPERM", func() error {
			return raw(unix.SYS_PROCESS_VM_WRITEV, uintptr(agent), 0, 0, 0, 0, 0)
		}},
		{"pidfd_getfd agent", "EPERM", func() error {
			pfd, err := unix.PidfdOpen(agent, 0)
			if err != nil {
				return err
			}
			_, err = unix.PidfdGetfd(pfd, 0, 0)
			return err
		}},
		{"add_key", "EPERM", func() error {
			_, err := unix.AddKey("user", "hookci-attack", []byte("x"), unix.KEY_SPEC_SESSION_KEYRING)
			return err
		}},
		{"request_key", "EPERM", func() error {
			_, err := unix.RequestKey("user", "hookci-attack", "", unix.KEY_SPEC_SESSION_KEYRING)
			return err
		}},
		{"keyctl join session keyring", "EPERM", func() error {
			_, err := unix.KeyctlJoinSessionKeyring("hookci-attack")
			return err
		}},
		{"bpf map create", "EPERM", func() error {
			attr := struct{ typ, keySize, valueSize, maxEntries uint32 }{unix.BPF_MAP_TYPE_ARRAY, 4, 4, 1}
			return raw(unix.SYS_BPF, unix.BPF_MAP_CREATE, ptr(&attr), unsafe.Sizeof(attr))
		}},
		{"perf_event_open own task clock", "EPERM", func() error {
			attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_TASK_CLOCK, Bits: unix.PerfBitDisabled | unix.PerfBitExcludeKernel}
			attr.Size = uint32(unsafe.Sizeof(attr))
			_, err := unix.PerfEventOpen(&attr, 0, -1, -1, 0)
			return err
		}},
		{"init_module", "EPERM", func() error { return unix.InitModule([]byte{0}, "") }},
		{"finit_module", "EPERM", func() error { return unix.FinitModule(0, "", 0) }},
		{"delete_module", "EPERM", func() error { return unix.DeleteModule("hookci-none", unix.O_NONBLOCK) }},
		{"kexec_load", "EPERM", func() error { return raw(unix.SYS_KEXEC_LOAD, 0, 0, 0, 0) }},
		{"kexec_file_load", "EPERM", func() error { return raw(unix.SYS_KEXEC_FILE_LOAD, 0, 0, 0, 0, 0) }},
		{"userfaultfd user mode", "EPERM", func() error { return raw(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|1) }},
		{"io_uring_setup", "EPERM", func() error {
			var params [120]byte
			return raw(unix.SYS_IO_URING_SETUP, 1, ptr(&params))
		}},
		{"io_uring_enter", "EPERM", func() error { return raw(unix.SYS_IO_URING_ENTER, 0, 0, 0, 0, 0, 0) }},
		{"io_uring_register", "EPERM", func() error { return raw(unix.SYS_IO_URING_REGISTER, 0, 0, 0, 0) }},
		{"lookup_dcookie", "EPERM", func() error { return raw(unix.SYS_LOOKUP_DCOOKIE, 0, ptr(&buf[0]), uintptr(len(buf))) }},
		{"syslog read kernel log", "EPERM", func() error { _, err := unix.Klogctl(unix.SYSLOG_ACTION_READ_ALL, buf); return err }},
		{"_sysctl", "EPERM", func() error { return raw(unix.SYS__SYSCTL, 0) }},
		{"uselib", "EPERM", func() error { return raw(unix.SYS_USELIB, cstr("/nonexistent")) }},
		{"reboot", "EPERM", func() error { return raw(unix.SYS_REBOOT, 0, 0, 0, 0) }},
		{"swapon", "EPERM", func() error { return raw(unix.SYS_SWAPON, cstr("/nonexistent"), 0) }},
		{"swapoff", "EPERM", func() error { return raw(unix.SYS_SWAPOFF, cstr("/nonexistent")) }},
		{"acct", "EPERM", func() error { return raw(unix.SYS_ACCT, 0) }},
		{"iopl", "EPERM", func() error { return unix.Iopl(3) }},
		{"ioperm", "EPERM", func() error { return raw(unix.SYS_IOPERM, 0x80, 1, 1) }},
		{"modify_ldt read", "EPERM", func() error { return raw(unix.SYS_MODIFY_LDT, 0, ptr(&buf[0]), uintptr(len(buf))) }},
		{"settimeofday", "EPERM", func() error { return raw(unix.SYS_SETTIMEOFDAY, 0, 0) }},
		{"clock_settime", "EPERM", func() error {
			var now unix.Timespec
			if err := unix.ClockGettime(unix.CLOCK_REALTIME, &now); err != nil {
				return err
			}
			return unix.ClockSettime(unix.CLOCK_REALTIME, &now)
		}},
		{"adjtimex read", "EPERM", func() error { _, err := unix.Adjtimex(&unix.Timex{}); return err }},
		{"clock_adjtime read", "EPERM", func() error {
			var tx unix.Timex
			return raw(unix.SYS_CLOCK_ADJTIME, unix.CLOCK_REALTIME, ptr(&tx))
		}},
		{"quotactl", "EPERM", func() error { return raw(unix.SYS_QUOTACTL, 0, cstr("/dev/null"), 0, 0) }},
		{"quotactl_fd", "EPERM", func() error { return raw(unix.SYS_QUOTACTL_FD, 0, 0, 0, 0) }},
		{"vhangup", "EPERM", func() error { return raw(unix.SYS_VHANGUP) }},
		// Not filtered: refused because the job holds no capability.
		{"unshare(CLONE_NEWNS) (no capability)", "EPERM", func() error { return unix.Unshare(unix.CLONE_NEWNS) }},
		{"capset all (no capability)", "EPERM", func() error {
			hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
			data := [2]unix.CapUserData{{Effective: ^uint32(0), Permitted: ^uint32(0)}, {Effective: ^uint32(0), Permitted: ^uint32(0)}}
			return unix.Capset(&hdr, &data[0])
		}},
		// Allowed: the flag rules let other unshare calls through.
		{"unshare(CLONE_FS) (allowed)", "ok", func() error { return unix.Unshare(unix.CLONE_FS) }},
		// The x32 ABI (x32 getpid).
		{"x32-abi getpid", "ENOSYS", func() error { return raw(0x40000000 | unix.SYS_GETPID) }},
	}
}

// cloneNewUser forks into a new user namespace with the raw clone(2),
// whose flags the filter reads; a child (should there be one) exits at once.
func cloneNewUser() error {
	r, _, e := unix.RawSyscall6(unix.SYS_CLONE, unix.CLONE_NEWUSER|uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 {
		return e
	}
	if r == 0 {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
	var ws unix.WaitStatus
	unix.Wait4(int(r), &ws, 0, nil)
	return nil
}

// atFDCWD is AT_FDCWD as a raw system call argument.
func atFDCWD() uintptr {
	fd := unix.AT_FDCWD
	return uintptr(fd)
}
