package namespace

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hookci/hookci/internal/mountinfo"
)

func TestParseMountinfo(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]string
	}{
		{
			"v1 with a unified mount",
			`31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime shared:5 - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`,
			map[string]string{
				"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
				"memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids", "xattr": "/sys/fs/cgroup/systemd", "cgroup2": "/sys/fs/cgroup/unified",
			},
		},
		{
			"pure v2",
			"29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
			map[string]string{"cgroup2": "/sys/fs/cgroup"},
		},
		{
			"bind mount of a sub-cgroup is ignored",
			"50 23 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := mountinfo.Parse(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got := cgroupMountsOf(ms)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseProcCgroup(t *testing.T) {
	in := "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/502b\n1:cpu,cpuacct:/a\n0::/user.slice/x.scope\n"
	want := map[string]string{"name=systemd": "/", "pids": "/", "memory": "/process_api/502b", "cpu": "/a", "cpuacct": "/a", "": "/user.slice/x.scope"}
	if diff := cmp.Diff(want, parseProcCgroup(in)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
