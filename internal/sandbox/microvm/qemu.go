package microvm

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hookci/hookci/internal/image"
)

// qemuSandbox is QEMU's own seccomp filter: no obsolete system calls, no
// new processes (so no exec: migration URIs: states go through file
// descriptors passed over QMP), no scheduler/affinity changes. Not
// elevateprivileges=deny: QEMU 7.2 installs the filter before -runas drops
// to the unprivileged uid, and the filter then kills it at that setuid
// (SIGSYS, tried); after the drop QEMU has no capabilities and
// no_new_privs, so a set*uid call cannot raise it.
const qemuSandbox = "on,obsolete=deny,spawn=deny,resourcecontrol=deny"

// Files of one VM under WorkDir/vms/<id> (short names: a unix socket path
// must fit in 107 bytes).
const (
	pidName     = "qemu.pid"
	agentSock   = "agent.sock"
	qmpSock     = "qmp.sock"
	consoleName = "console.log"
)

// vmShape is what must be identical between a template and its clones.
type vmShape struct {
	cpus     int
	memMiB   int
	network  bool
	workDisk bool // has a workspace disk (WorkspaceDiskBytes)
}

// key names the shape, for template directories.
func (s vmShape) key() string {
	k := fmt.Sprintf("c%d-m%d", s.cpus, s.memMiB)
	if s.network {
		k += "-net"
	}
	if s.workDisk {
		k += "-wd"
	}
	return k
}

// vmOptions describes one QEMU process.
type vmOptions struct {
	shape     vmShape
	accel     string
	toolCache string // host dir shared read-only through 9p
	workDisk  string // ext4 image mounted at the workspace
	deferWork bool   // the guest leaves workDisk unmounted (a template's placeholder)
	memFile   string // "" = anonymous RAM; else a file mapping
	memShared bool   // map memFile shared (template) or private (clone)
	incoming  bool   // -incoming defer: wait for a migration stream

	images []string // container image disks, attached read-only (container.go)
}

// qemuArgs returns QEMU's argument list for a VM whose files are in dir;
// runAs ("uid:gid", or "" to stay as is) is the ids QEMU drops to.
func (b *Backend) qemuArgs(dir string, o vmOptions, runAs string) []string {
	machine := "microvm,acpi=on,rtc=on,pit=on,pic=on,isa-serial=on,x-option-roms=off"
	args := []string{
		"-name", "hookci-" + filepath.Base(dir),
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-smp", strconv.Itoa(o.shape.cpus),
		"-m", strconv.Itoa(o.shape.memMiB) + "M",
		"-kernel", b.cfg.Kernel,
		"-initrd", b.initramfs,
		"-append", b.cmdline(o),
		"-chardev", "file,id=console,path=" + optPath(filepath.Join(dir, consoleName)),
		"-serial", "chardev:console",
		"-drive", "id=root,file=" + optPath(b.cfg.RootDisk) + ",format=raw,if=none,readonly=on",
		"-device", "virtio-blk-device,drive=root,serial=hookci-root",
		"-device", "virtio-serial-device,max_ports=2",
		"-chardev", "socket,id=agent,server=on,wait=off,path=" + optPath(filepath.Join(dir, agentSock)),
		"-device", "virtserialport,chardev=agent,name=hookci.agent",
		"-object", "rng-random,id=rng,filename=/dev/urandom",
		"-device", "virtio-rng-device,rng=rng",
		"-qmp", "unix:" + optPath(filepath.Join(dir, qmpSock)) + ",server=on,wait=off",
		"-pidfile", filepath.Join(dir, pidName),
		"-sandbox", qemuSandbox,
	}
	if runAs != "" {
		args = append(args, "-runas", runAs)
	}
	if o.accel == AccelKVM {
		args = append(args, "-accel", "kvm", "-cpu", "host")
	} else {
		args = append(args, "-accel", "tcg,tb-size=16", "-cpu", "max")
	}
	if o.memFile != "" {
		share := "off"
		if o.memShared {
			share = "on"
		}
		args = append(args, "-object", fmt.Sprintf("memory-backend-file,id=ram,size=%dM,mem-path=%s,share=%s",
			o.shape.memMiB, optPath(o.memFile), share))
		machine += ",memory-backend=ram"
	}
	args = append(args, "-M", machine)
	if o.shape.network {
		args = append(args, "-netdev", "user,id=net0", "-device", "virtio-net-device,netdev=net0")
	}
	if o.toolCache != "" {
		args = append(args,
			"-fsdev", "local,id=toolcache,path="+optPath(o.toolCache)+",security_model=none,readonly=on",
			"-device", "virtio-9p-device,fsdev=toolcache,mount_tag=hookci-toolcache")
	}
	if o.workDisk != "" {
		args = append(args,
			"-drive", "id=work,file="+optPath(o.workDisk)+",format=raw,if=none",
			"-device", "virtio-blk-device,drive=work,serial=hookci-work")
	}
	args = append(args, imageDiskArgs(o.images)...)
	if o.incoming {
		args = append(args, "-incoming", "defer")
	}
	return args
}

// cmdline is the kernel command line for a VM of the given shape. Under TCG
// it tells the kernel the TSC frequency: calibrating it against the emulated
// PIT fails on a loaded host and the boot hangs.
func (b *Backend) cmdline(o vmOptions) string {
	words := []string{
		"console=ttyS0", "quiet", "panic=-1", "reboot=t",
		"root=/dev/vda", "rootfstype=ext4", "ro", "rdinit=/init",
	}
	if o.shape.network {
		words = append(words, "hookci.net=1")
	}
	if o.deferWork {
		words = append(words, "hookci.workdisk=defer")
	}
	if o.accel == AccelTCG {
		if tsc := image.TCGCmdline(); tsc != "" {
			words = append(words, tsc)
		}
	}
	if c := strings.TrimSpace(b.cfg.Cmdline); c != "" {
		words = append(words, c)
	}
	return strings.Join(words, " ")
}

// optPath escapes a path for use inside a QEMU option string.
func optPath(p string) string { return strings.ReplaceAll(p, ",", ",,") }
