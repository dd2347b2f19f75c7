package microvm

import (
	"slices"
	"strings"
	"testing"
)

func TestQEMUArgs(t *testing.T) {
	b := &Backend{cfg: Config{Kernel: "/img/vmlinux", RootDisk: "/img/root,1.ext4", Cmdline: "loglevel=7", RunAs: "65534:65534"}, initramfs: "/w/initramfs.img"}
	for _, tc := range []struct {
		name    string
		o       vmOptions
		want    []string // substrings of the joined argument list
		notWant []string
	}{
		{
			name: "default: no network, read-only root, serial agent",
			o:    vmOptions{shape: vmShape{cpus: 2, memMiB: 512}, accel: AccelTCG},
			want: []string{"-M microvm,acpi=on,rtc=on", "-nodefaults", "-no-user-config", "-nographic",
				"file=/img/root,,1.ext4,format=raw,if=none,readonly=on", "virtserialport,chardev=agent,name=hookci.agent",
				"-smp 2", "-m 512M", "-accel tcg", "loglevel=7", "root=/dev/vda",
				"-sandbox on,obsolete=deny,spawn=deny,resourcecontrol=deny"},
			notWant: []string{"-netdev", "hookci.net=1", "virtio-9p", "-incoming", "memory-backend"},
		},
		{
			name: "network, tool cache, kvm",
			o:    vmOptions{shape: vmShape{cpus: 1, memMiB: 256, network: true}, accel: AccelKVM, toolCache: "/opt/tc"},
			want: []string{"-netdev user,id=net0", "virtio-net-device,netdev=net0", "hookci.net=1",
				"path=/opt/tc,security_model=none,readonly=on", "mount_tag=hookci-toolcache", "-accel kvm -cpu host"},
		},
		{
			name: "template clone",
			o:    vmOptions{shape: vmShape{cpus: 1, memMiB: 256}, accel: AccelTCG, memFile: "/t/ram", incoming: true},
			want: []string{"memory-backend-file,id=ram,size=256M,mem-path=/t/ram,share=off", "memory-backend=ram", "-incoming defer"},
		},
		{
			name:    "template source",
			o:       vmOptions{shape: vmShape{cpus: 1, memMiB: 256}, accel: AccelTCG, memFile: "/t/ram", memShared: true},
			want:    []string{"mem-path=/t/ram,share=on"},
			notWant: []string{"-incoming"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := b.qemuArgs("/w/vms/x", tc.o, "1000007:1000007")
			joined := strings.Join(args, " ")
			for _, w := range tc.want {
				if !strings.Contains(joined, w) {
					t.Errorf("args lack %q:\n%s", w, joined)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(joined, w) {
					t.Errorf("args contain %q:\n%s", w, joined)
				}
			}
			if i := slices.Index(args, "-append"); i < 0 || i+1 >= len(args) {
				t.Errorf("no -append in %q", joined)
			}
			if !strings.Contains(joined, "-runas 1000007:1000007") {
				t.Errorf("args lack -runas 1000007:1000007:\n%s", joined)
			}
			if args := b.qemuArgs("/w/vms/x", tc.o, ""); slices.Contains(args, "-runas") {
				t.Errorf("no ids given, yet -runas in %q", strings.Join(args, " "))
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"relative workdir", Config{WorkDir: "rel", QEMUPath: "/bin/true"}, "not absolute"},
		{"bad accel", Config{WorkDir: dir, Accel: "hvf", QEMUPath: "/bin/true"}, "want auto, kvm or tcg"},
		{"missing kernel", Config{WorkDir: dir, QEMUPath: "/bin/true", AgentPath: "/bin/true", RootDisk: "/bin/true"}, "Kernel"},
		{"tiny memory", Config{WorkDir: dir, DefaultMemoryMiB: 16, QEMUPath: "/bin/true"}, "out of range"},
		{"runas root by uid", Config{WorkDir: dir, QEMUPath: "/bin/true", RunAs: "0:0"}, "RunAs"},
		{"runas a name", Config{WorkDir: dir, QEMUPath: "/bin/true", RunAs: "nobody"}, "RunAs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
