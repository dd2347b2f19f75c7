package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/mountinfo"
)

func TestDescribeCgroups(t *testing.T) {
	v1 := `30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime shared:10 - cgroup cgroup rw,cpu
31 25 0:27 / /sys/fs/cgroup/memory rw,relatime shared:11 - cgroup cgroup rw,memory
32 25 0:28 / /sys/fs/cgroup/systemd rw,relatime shared:12 - cgroup cgroup rw,name=systemd
`
	v2 := `35 25 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
`
	other := `22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
`
	controllers := func(dir string) string { return "cpu memory pids" }
	tests := []struct {
		name, mountinfo, want string
		ok                    bool
	}{
		{"v1", other + v1, "v1: cpu memory name=systemd", true},
		{"v2", other + v2, "v2 at /sys/fs/cgroup: cpu memory pids", true},
		{"hybrid", v1 + v2, "v1: cpu memory name=systemd; v2 at /sys/fs/cgroup: cpu memory pids", true},
		{"none", other, "no cgroup hierarchy mounted", false},
		{"garbage", "not a mountinfo line\n\n", "no cgroup hierarchy mounted", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := mountinfo.Parse(strings.NewReader(tt.mountinfo))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := describeCgroups(ms, controllers)
			if got != tt.want || ok != tt.ok {
				t.Errorf("got %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestBootFailureReason(t *testing.T) {
	tests := []struct{ console, want string }{
		{"SeaBIOS\nKVM internal error. Suberror: 1\nextra data[0]: 0x1\n", "KVM internal error. Suberror: 1"},
		{"[    0.1] foo\n[    2.0] Kernel panic - not syncing: VFS: Unable to mount root fs\n", "[    2.0] Kernel panic - not syncing: VFS: Unable to mount root fs"},
		{"Probing EDD (edd=off to disable)... ok\n", "timed out; last console line: Probing EDD (edd=off to disable)... ok"},
		{"", "timed out, kernel printed nothing"},
	}
	for _, tt := range tests {
		if got := bootFailureReason(tt.console); got != tt.want {
			t.Errorf("bootFailureReason(%q): got %q, want %q", tt.console, got, tt.want)
		}
	}
}

// TestDoctorJSON runs the real checks (no VM boot) against an empty data
// directory: no image, so microvm cannot be usable; namespace needs no image
// (its root is the host's), only bwrap.
func TestDoctorJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := cmdDoctor(t.Context(), []string{"--json", "--no-boot", "--data-dir", t.TempDir()}, &stdout, &stderr)
	var rep doctorReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	_, bwrapErr := exec.LookPath("bwrap")
	if wantUsable := bwrapErr == nil; rep.Usable != wantUsable || (code == 0) != wantUsable {
		t.Errorf("got exit %d, usable %v; want usable %v (bwrap found: %v) without an image", code, rep.Usable, wantUsable, bwrapErr == nil)
	}
	names := map[string]doctorCheck{}
	for _, c := range rep.Checks {
		names[c.Name] = c
	}
	for _, want := range []string{"qemu-system-x86_64", "/dev/kvm", "guest image", "bwrap", "cgroups", "vhost-vsock", "firecracker", "debootstrap", "git"} {
		if _, ok := names[want]; !ok {
			t.Errorf("report has no %q check", want)
		}
	}
	if img := names["guest image"]; img.OK || !strings.Contains(img.Detail, "not built") {
		t.Errorf("guest image check: got %+v, want not ok, \"not built\"", img)
	}
	if !rep.Backends["host"] || rep.Backends["microvm"] || rep.Backends["namespace"] != (bwrapErr == nil) {
		t.Errorf("backends: got %v, want host, and namespace when bwrap is found (%v), not microvm", rep.Backends, bwrapErr == nil)
	}
}

// TestDoctorNamespaceWithoutImage: with no guest image, doctor starts a real
// namespace sandbox (the probe serve's "auto" makes) and reports it usable,
// as it is: its root is the host's.
func TestDoctorNamespaceWithoutImage(t *testing.T) {
	if _, err := exec.LookPath("bwrap"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("bwrap is not installed (scripts/deps.sh test installs it)")
		}
		t.Skip("bwrap is not installed")
	}
	cfg := config.Default()
	cfg.DataDir, cfg.AgentPath = t.TempDir(), agenttest.Binary(t)
	rep := runDoctor(t.Context(), cfg, true)
	var ns doctorCheck
	for _, c := range rep.Checks {
		if c.Name == "namespace sandbox starts" {
			ns = c
		}
	}
	if !ns.OK || !rep.Backends["namespace"] || !rep.Usable {
		t.Errorf("namespace check %+v, backends %v, usable %v; want the namespace sandbox usable without an image", ns, rep.Backends, rep.Usable)
	}
}

func TestImageUsage(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{nil, 2, "usage: hookci image build"},
		{[]string{"frobnicate"}, 2, "usage: hookci image build"},
		{[]string{"build", "--no-such-flag"}, 2, "flag provided but not defined"},
		{[]string{"show", "--data-dir", "EMPTY"}, 1, "guest image not built"},
		{[]string{"build", "--data-dir", "EMPTY", "--agent", "/nonexistent/agent"}, 1, "agent binary"},
		{[]string{"build", "--data-dir", "EMPTY", "--agent", "/bin/true", "--kernel", "bzimage"}, 1, "unknown kernel kind"},
		{[]string{"build", "--data-dir", "EMPTY", "--agent", "/bin/true", "--packages", "git,--evil"}, 1, "invalid Debian package name"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			args := append([]string{}, tt.args...)
			for i, a := range args {
				if a == "EMPTY" {
					args[i] = t.TempDir()
				}
			}
			var stdout, stderr bytes.Buffer
			code := cmdImage(t.Context(), args, &stdout, &stderr)
			if code != tt.wantCode || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("got exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.wantCode, tt.wantErr)
			}
		})
	}
}
