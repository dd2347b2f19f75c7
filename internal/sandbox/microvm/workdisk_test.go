package microvm

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/sandbox"
)

// TestWorkspaceDiskTemplate starts two clones of one template, each with its
// own workspace disk, and checks that each sees its own tree (the guest must
// not serve the placeholder's or the other disk's cached blocks).
func TestWorkspaceDiskTemplate(t *testing.T) {
	b := newTestBackend(t, func(c *Config) { c.Template = true })
	for _, name := range []string{"one", "two"} {
		tree := filepath.Join(t.TempDir(), "tree")
		os.MkdirAll(filepath.Join(tree, "src"), 0o755)
		os.WriteFile(filepath.Join(tree, "src", "name.txt"), []byte(name+"\n"), 0o644)
		disk := filepath.Join(t.TempDir(), "work.ext4")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := MakeWorkspaceDisk(ctx, tree, disk); err != nil {
			t.Fatal(err)
		}
		inst, err := b.StartWith(ctx, sandbox.Spec{ID: "wd-" + name}, StartOptions{WorkspaceDisk: disk})
		if err != nil {
			t.Fatalf("StartWith: %v", err)
		}
		out, code := run(t, inst, "cat src/name.txt && echo new > out.txt && cat out.txt && grep -c ' /home/runner/work/w ext4 ' /proc/mounts")
		if want := name + "\nnew\n1\n"; out != want || code != 0 {
			t.Errorf("clone %s: got %q (exit %d), want %q", name, out, code, want)
		}
		inst.Close()
	}
}
