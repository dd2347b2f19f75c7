package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"testing"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/host"
	"github.com/hookci/hookci/internal/store"
)

// TestWorkspaceDiskDecision runs jobs "on microvm" (the host backend under
// that name, recording what it was asked) with a 1 MiB disk threshold
// while the repository grows: the first, small commit waits for its tar and
// goes as a tar; the second, past the threshold, is started before its
// checkout on the strength of the first's size and still gets its whole
// workspace as a tar (the guess costs speed, never files); the third, now
// known big, gets the tree for a disk.
func TestWorkspaceDiskDecision(t *testing.T) {
	hb, err := host.New(host.Config{AgentPath: agenttest.Binary(t), WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var asked []string // WorkspaceDir of every sandbox start, in order
	start := func(ctx context.Context, spec sandbox.Spec) (*sandbox.Instance, error) {
		mu.Lock()
		asked = append(asked, spec.WorkspaceDir)
		mu.Unlock()
		return hb.Start(ctx, spec)
	}
	e := newEnvWith(t, func(c *Config) {
		c.WorkspaceDiskBytes = 1 << 20
		c.Choose = func([]string, sandbox.Origin) (sandbox.StartFunc, sandbox.Choice, error) {
			return start, sandbox.Choice{Name: "microvm"}, nil
		}
	})
	big := make([]byte, 1<<20) // hex: 2 MiB in the tree, ~1 MiB packed
	rand.Read(big)
	wf := "on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - run: wc -c < big.txt; cat small.txt\n"
	cases := []struct {
		files    map[string]string
		wantDisk bool
		wantLog  string
	}{
		{map[string]string{".github/workflows/ci.yml": wf, "small.txt": "one", "big.txt": "x"}, false, "1\none"},
		{map[string]string{"small.txt": "two", "big.txt": hex.EncodeToString(big)}, false, "2097152\ntwo"},
		{map[string]string{"small.txt": "three"}, true, "2097152\nthree"},
	}
	for i, c := range cases {
		_, jobs := e.wait(e.push(c.files))
		j := jobs["j"]
		if j.Conclusion != store.ConclusionSuccess {
			t.Fatalf("push %d: job %s: %s\n%s", i+1, j.Conclusion, j.Message, e.log(j.ID))
		}
		if log := e.log(j.ID); !strings.Contains(log, c.wantLog) {
			t.Errorf("push %d: the step did not see its workspace: want %q in the log\n%s", i+1, c.wantLog, log)
		}
		mu.Lock()
		got := asked[len(asked)-1] != ""
		mu.Unlock()
		if got != c.wantDisk {
			t.Errorf("push %d: workspace as a disk: got %v, want %v", i+1, got, c.wantDisk)
		}
	}
}
