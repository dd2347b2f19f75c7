package mountinfo

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, line string
		want       []Mount // nil: the line is skipped
	}{
		{"root ext4 (this machine)", "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534",
			[]Mount{{ID: 26, Parent: 1, Root: "/", MountPoint: "/", Options: []string{"rw", "relatime"}, FSType: "ext4", Source: "/dev/vda",
				SuperOptions: []string{"rw", "discard", "resv_strict", "resuid=65534", "resgid=65534"}}}},
		{"optional fields (proc(5) example)", "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
			[]Mount{{ID: 36, Parent: 35, Root: "/mnt1", MountPoint: "/mnt2", Options: []string{"rw", "noatime"}, FSType: "ext3", Source: "/dev/root",
				SuperOptions: []string{"rw", "errors=continue"}}}},
		{"cgroup v1 with two optional fields", "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime shared:5 master:2 - cgroup cgroup rw,pids",
			[]Mount{{ID: 39, Parent: 31, Root: "/", MountPoint: "/sys/fs/cgroup/pids", Options: []string{"rw", "relatime"}, FSType: "cgroup",
				Source: "cgroup", SuperOptions: []string{"rw", "pids"}}}},
		{"cgroup2", "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot",
			[]Mount{{ID: 29, Parent: 23, Root: "/", MountPoint: "/sys/fs/cgroup", Options: []string{"rw", "nosuid", "nodev", "noexec", "relatime"},
				FSType: "cgroup2", Source: "cgroup2", SuperOptions: []string{"rw", "nsdelegate", "memory_recursiveprot"}}}},
		{"escaped space and tab", `90 26 0:50 /a\040b /var/cache/hookci/tmp/x\040y\011z rw - overlay overlay rw,lowerdir=/l`,
			[]Mount{{ID: 90, Parent: 26, Root: "/a b", MountPoint: "/var/cache/hookci/tmp/x y\tz", Options: []string{"rw"}, FSType: "overlay",
				Source: "overlay", SuperOptions: []string{"rw", "lowerdir=/l"}}}},
		{"tmpfs with a named source", "27 26 0:24 / /mnt/tools ro,nosuid,nodev,relatime - tmpfs model_tools_unavailable ro,size=4k,mode=755",
			[]Mount{{ID: 27, Parent: 26, Root: "/", MountPoint: "/mnt/tools", Options: []string{"ro", "nosuid", "nodev", "relatime"}, FSType: "tmpfs",
				Source: "model_tools_unavailable", SuperOptions: []string{"ro", "size=4k", "mode=755"}}}},
		{"no separator", "26 1 254:0 / / rw,relatime ext4 /dev/vda rw", nil},
		{"too few fields", "26 1 254:0 / - ext4 /dev/vda rw", nil},
		{"id not a number", "x 1 254:0 / / rw - ext4 /dev/vda rw", nil},
		{"garbage", "not a mountinfo line", nil},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.line + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", "/plain": "/plain", `/t\011x`: "/t\tx", `/b\134s`: `/b\s`,
		`/cut\04`: `/cut\04`, `/not\08x`: `/not\08x`, `/end\040`: "/end "} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q): got %q, want %q", in, got, want)
		}
	}
}

// This process's own table has a root mount.
func TestRead(t *testing.T) {
	if _, err := os.Stat("/proc/self/mountinfo"); err != nil {
		t.Skip("no /proc/self/mountinfo:", err)
	}
	ms, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.MountPoint == "/" {
			return
		}
	}
	t.Errorf("no mount at / among %d mounts", len(ms))
}
