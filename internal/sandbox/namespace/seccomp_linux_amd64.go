package namespace

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Seccomp return values and the seccomp_data layout (linux/seccomp.h).
const (
	seccompRetKillProcess = 0x80000000
	seccompRetErrno       = 0x00050000
	seccompRetAllow       = 0x7fff0000

	seccompDataNr   = 0  // int nr
	seccompDataArch = 4  // __u32 arch
	seccompDataArg0 = 16 // __u64 args[0]; the low half on little-endian x86_64

	auditArchX8664 = 0xc000003e
	x32SyscallBit  = 0x40000000
)

// syscallRule refuses one system call with errno; with flags set, only
// calls whose first argument has one of those bits.
type syscallRule struct {
	name  string
	nr    uint32
	errno unix.Errno
	flags uint32
}

// deniedSyscalls are what a job may not call. Most need a capability the
// job does not hold anyway; the filter refuses them before the kernel's
// code for them runs at all (smaller attack surface, and a second wall
// should a capability leak). ptrace, process_vm_* and pidfd_getfd are
// refused although the job could use them on its own processes (GitHub's
// runners allow strace): in the sandbox the agent runs as the job's uid,
// and a job must not reach into it. clone3 gets ENOSYS so that libc falls
// back to clone, whose flags the filter can read.
func deniedSyscalls() []syscallRule {
	eperm := func(name string, nr uintptr) syscallRule {
		return syscallRule{name: name, nr: uint32(nr), errno: unix.EPERM}
	}
	return []syscallRule{
		// Mounts and the root.
		eperm("mount", unix.SYS_MOUNT), eperm("umount2", unix.SYS_UMOUNT2),
		eperm("pivot_root", unix.SYS_PIVOT_ROOT), eperm("chroot", unix.SYS_CHROOT),
		eperm("open_tree", unix.SYS_OPEN_TREE), eperm("open_tree_attr", unix.SYS_OPEN_TREE_ATTR),
		eperm("move_mount", unix.SYS_MOVE_MOUNT), eperm("fsopen", unix.SYS_FSOPEN),
		eperm("fsconfig", unix.SYS_FSCONFIG), eperm("fsmount", unix.SYS_FSMOUNT),
		eperm("fspick", unix.SYS_FSPICK), eperm("mount_setattr", unix.SYS_MOUNT_SETATTR),
		// File handles reach files by inode number, past every mount.
		eperm("name_to_handle_at", unix.SYS_NAME_TO_HANDLE_AT), eperm("open_by_handle_at", unix.SYS_OPEN_BY_HANDLE_AT),
		// Namespaces: joining any, creating user namespaces.
		eperm("setns", unix.SYS_SETNS),
		{name: "unshare(CLONE_NEWUSER)", nr: unix.SYS_UNSHARE, errno: unix.EPERM, flags: unix.CLONE_NEWUSER},
		{name: "clone(CLONE_NEWUSER)", nr: unix.SYS_CLONE, errno: unix.EPERM, flags: unix.CLONE_NEWUSER},
		{name: "clone3", nr: unix.SYS_CLONE3, errno: unix.ENOSYS},
		// Other processes.
		eperm("ptrace", unix.SYS_PTRACE), eperm("process_vm_readv", unix.SYS_PROCESS_VM_READV),
		eperm("process_vm_writev", unix.SYS_PROCESS_VM_WRITEV), eperm("pidfd_getfd", unix.SYS_PIDFD_GETFD),
		// Kernel keyrings.
		eperm("add_key", unix.SYS_ADD_KEY), eperm("request_key", unix.SYS_REQUEST_KEY), eperm("keyctl", unix.SYS_KEYCTL),
		// The kernel itself: programs, modules, tracing, io_uring, userfaultfd.
		eperm("bpf", unix.SYS_BPF), eperm("perf_event_open", unix.SYS_PERF_EVENT_OPEN),
		eperm("init_module", unix.SYS_INIT_MODULE), eperm("finit_module", unix.SYS_FINIT_MODULE),
		eperm("delete_module", unix.SYS_DELETE_MODULE), eperm("kexec_load", unix.SYS_KEXEC_LOAD),
		eperm("kexec_file_load", unix.SYS_KEXEC_FILE_LOAD), eperm("userfaultfd", unix.SYS_USERFAULTFD),
		eperm("io_uring_setup", unix.SYS_IO_URING_SETUP), eperm("io_uring_enter", unix.SYS_IO_URING_ENTER),
		eperm("io_uring_register", unix.SYS_IO_URING_REGISTER),
		eperm("lookup_dcookie", unix.SYS_LOOKUP_DCOOKIE), eperm("syslog", unix.SYS_SYSLOG),
		eperm("_sysctl", unix.SYS__SYSCTL), eperm("uselib", unix.SYS_USELIB),
		// The machine: power, swap, accounting, ports, clocks, quotas, terminals.
		eperm("reboot", unix.SYS_REBOOT), eperm("swapon", unix.SYS_SWAPON), eperm("swapoff", unix.SYS_SWAPOFF),
		eperm("acct", unix.SYS_ACCT), eperm("iopl", unix.SYS_IOPL), eperm("ioperm", unix.SYS_IOPERM),
		eperm("modify_ldt", unix.SYS_MODIFY_LDT),
		eperm("settimeofday", unix.SYS_SETTIMEOFDAY), eperm("clock_settime", unix.SYS_CLOCK_SETTIME),
		eperm("adjtimex", unix.SYS_ADJTIMEX), eperm("clock_adjtime", unix.SYS_CLOCK_ADJTIME),
		eperm("quotactl", unix.SYS_QUOTACTL), eperm("quotactl_fd", unix.SYS_QUOTACTL_FD),
		eperm("vhangup", unix.SYS_VHANGUP),
	}
}

// seccompProgram returns the job's seccomp filter as the raw array of
// struct sock_filter that bubblewrap's --seccomp reads: a call from any ABI
// but x86_64 kills the process, x32 calls get ENOSYS, deniedSyscalls their
// errno, everything else is allowed.
func seccompProgram() ([]byte, error) {
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: seccompDataArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: auditArchX8664, SkipTrue: 1},
		bpf.RetConstant{Val: seccompRetKillProcess},
		bpf.LoadAbsolute{Off: seccompDataNr, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32SyscallBit, SkipFalse: 1},
		bpf.RetConstant{Val: seccompRetErrno | uint32(unix.ENOSYS)},
	}
	// Flag rules load an argument over the syscall number, so they come
	// last and each ends in a return either way.
	var flagged []syscallRule
	for _, r := range deniedSyscalls() {
		if r.flags != 0 {
			flagged = append(flagged, r)
			continue
		}
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: r.nr, SkipFalse: 1},
			bpf.RetConstant{Val: seccompRetErrno | uint32(r.errno)},
		)
	}
	for _, r := range flagged {
		// Only a matching number loads the argument (and returns), so a
		// mismatch leaves the number in A for the next rule.
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: r.nr, SkipFalse: 4},
			bpf.LoadAbsolute{Off: seccompDataArg0, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: r.flags, SkipFalse: 1},
			bpf.RetConstant{Val: seccompRetErrno | uint32(r.errno)},
			bpf.RetConstant{Val: seccompRetAllow},
		)
	}
	prog = append(prog, bpf.RetConstant{Val: seccompRetAllow})
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("seccomp filter: %w", err)
	}
	out := make([]byte, 0, 8*len(raw))
	for _, in := range raw {
		out = binary.LittleEndian.AppendUint16(out, in.Op)
		out = append(out, in.Jt, in.Jf)
		out = binary.LittleEndian.AppendUint32(out, in.K)
	}
	return out, nil
}
