package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

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
// directory: no image, so neither namespace nor microvm can be usable.
func TestDoctorJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := cmdDoctor(t.Context(), []string{"--json", "--no-boot", "--data-dir", t.TempDir()}, &stdout, &stderr)
	var rep doctorReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	if code != 1 || rep.Usable {
		t.Errorf("got exit %d, usable %v; want 1, false without an image", code, rep.Usable)
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
	if !rep.Backends["host"] || rep.Backends["microvm"] || rep.Backends["namespace"] {
		t.Errorf("backends: got %v, want only host usable", rep.Backends)
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
