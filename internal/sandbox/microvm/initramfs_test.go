package microvm

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestInitramfs builds an initramfs after an existing archive and lists it
// with cpio(1), which reads concatenated archives one at a time.
func TestInitramfs(t *testing.T) {
	cpio, err := exec.LookPath("cpio")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("cpio(1) missing")
		}
		t.Skip("cpio(1) missing")
	}
	dir := t.TempDir()
	agent := filepath.Join(dir, "agent")
	os.WriteFile(agent, []byte("#!agent binary\n"), 0o755)
	// A first archive of odd length, as a modules initrd may be.
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "etc/hookci"), 0o755)
	os.WriteFile(filepath.Join(src, "etc/hookci/modules"), []byte("kernel/a.ko\n"), 0o644)
	first := filepath.Join(dir, "first.cpio")
	cmd := exec.Command("sh", "-c", "cd "+src+" && find etc | cpio -o -H newc --quiet > "+first+" && printf x >> "+first)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	path, err := BuildInitramfs(dir, first, agent)
	if err != nil {
		t.Fatal(err)
	}
	again, err := BuildInitramfs(dir, first, agent)
	if err != nil || again != path {
		t.Errorf("second build: got %q, %v; want the cached %q", again, err, path)
	}
	img, _ := os.ReadFile(path)
	firstBytes, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	second := img[(len(firstBytes)+3)/4*4:]
	var out bytes.Buffer
	list := exec.Command(cpio, "-it", "--quiet")
	list.Stdin, list.Stdout = bytes.NewReader(second), &out
	if err := list.Run(); err != nil {
		t.Fatalf("cpio -t: %v", err)
	}
	want := []string{"dev", "proc", "sys", "run", "etc", "dev/console", "init"}
	if d := cmp.Diff(want, strings.Fields(out.String())); d != "" {
		t.Errorf("agent archive entries (-want +got):\n%s", d)
	}
	extract := exec.Command(cpio, "-i", "--quiet", "--to-stdout", "init")
	extract.Stdin = bytes.NewReader(second)
	got, err := extract.Output()
	if err != nil || string(got) != "#!agent binary\n" {
		t.Errorf("init content: got %q, %v", got, err)
	}
}
