package dispatch

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/host"
	"github.com/hookci/hookci/internal/store"
)

// specRecorder wraps a StartFunc and records the specs it is asked for.
type specRecorder struct {
	start sandbox.StartFunc
	mu    sync.Mutex
	specs []sandbox.Spec
}

func (r *specRecorder) Start(ctx context.Context, spec sandbox.Spec) (*sandbox.Instance, error) {
	r.mu.Lock()
	r.specs = append(r.specs, spec)
	r.mu.Unlock()
	return r.start(ctx, spec)
}

func (r *specRecorder) take() []sandbox.Spec {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.specs
	r.specs = nil
	return s
}

// TestForkPullRequestNeverGetsEgress: the repository is granted egress
// (its backend choice says Network), yet a pull request from a fork starts
// its sandbox without network; the same pull request from a branch of the
// repository itself, and a push, get it.
func TestForkPullRequestNeverGetsEgress(t *testing.T) {
	ctx := context.Background()
	hb, err := host.New(host.Config{AgentPath: agenttest.Binary(t), WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	rec := &specRecorder{start: hb.Start}
	e := newEnvWith(t, func(c *Config) {
		c.Choose = func(labels []string, o sandbox.Origin) (sandbox.StartFunc, sandbox.Choice, error) {
			return rec.Start, sandbox.Choice{Name: "host", Network: true}, nil // octo/hello is in the egress list
		}
	})
	st, repo := e.st, e.repo
	pushID := e.push(map[string]string{".github/workflows/ci.yml": "on: [push, pull_request]\njobs:\n  j:\n    runs-on: x\n    steps:\n      - run: echo hi\n"})
	base := repo.Head()
	repo.Branch("feature")
	head := repo.Commit("change", map[string]string{"a.txt": "1"})
	repo.Push("feature")

	pr := func(id, headRepo string) string {
		body, _ := json.Marshal(map[string]any{"action": "opened", "number": 7,
			"pull_request": map[string]any{"number": 7,
				"head": map[string]any{"sha": head, "ref": "feature", "repo": map[string]any{"full_name": headRepo}},
				"base": map[string]any{"sha": base, "ref": "main", "repo": map[string]any{"full_name": "octo/hello"}}},
			"repository": map[string]any{"full_name": "octo/hello", "default_branch": "main"}, "sender": map[string]any{"login": "someone"}})
		if _, err := st.AddDelivery(ctx, store.Delivery{ID: id, Event: "pull_request", Repo: "octo/hello", SHA: head,
			ReceivedAt: time.Now(), Payload: body, Status: store.DeliveryQueued}, true); err != nil {
			t.Fatal(err)
		}
		return id
	}
	tests := []struct {
		name        string
		deliver     func() string
		wantNetwork bool
	}{
		{"push", func() string { return pushID }, true},
		{"pull request from a branch of the repository", func() string { return pr("pr-same", "octo/hello") }, true},
		{"pull request from a fork", func() string { return pr("pr-fork", "mallory/hello") }, false},
	}
	for _, tt := range tests {
		id := tt.deliver()
		_, jobs := e.wait(id)
		if j := jobs["j"]; j.Conclusion != "success" {
			t.Fatalf("%s: job %s %q, want success", tt.name, j.Conclusion, j.Message)
		}
		specs := rec.take()
		if len(specs) == 0 {
			t.Fatalf("%s: no sandbox started", tt.name)
		}
		for _, s := range specs {
			if s.Network != tt.wantNetwork {
				t.Errorf("%s: got Spec.Network=%t, want %t", tt.name, s.Network, tt.wantNetwork)
			}
		}
	}
}
