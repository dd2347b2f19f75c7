package actions

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"testing"

	"github.com/hookci/hookci/internal/gitrepo/gittest"
)

// TestDockerImages: the images a job's uses: steps will run in containers,
// read before the job runs (a microVM gets them as disks at boot): a
// docker:// step, a local Docker action, a remote one fetched from the git
// server, one nested in a composite action (local, itself calling a
// remote action), duplicates once; built-ins, JavaScript and Dockerfile
// actions, a missing local action and an unresolvable remote one add
// nothing.
func TestDockerImages(t *testing.T) {
	e := newEnv(t, nil)
	remote := gittest.New(t, e.gitRoot, "acme/greet")
	remote.Commit("v1", map[string]string{
		"action.yml":       "runs:\n  using: docker\n  image: docker://acme/greeter:2\n",
		"node/action.yml":  "runs:\n  using: node20\n  main: index.js\n",
		"built/Dockerfile": "FROM scratch\n",
	})
	remote.Push("main")
	local := map[string]string{
		"hello/action.yml":  "runs:\n  using: docker\n  image: docker://hookci-test/hello-action:v1\n",
		"comp/action.yml":   "runs:\n  using: composite\n  steps:\n    - uses: docker://redis:7\n    - uses: acme/greet@main\n    - uses: ./hello\n",
		"df/action.yml":     "runs:\n  using: docker\n  image: Dockerfile\n",
		"expr/action.yml":   "runs:\n  using: docker\n  image: docker://x:${{ inputs.v }}\n",
		"broken/action.yml": "runs: [",
	}
	read := func(_ context.Context, name string) ([]byte, error) {
		if s, ok := local[name]; ok {
			return []byte(s), nil
		}
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	for _, tc := range []struct {
		name string
		uses []string
		want []string
	}{
		{"docker step", []string{"docker://debian:bookworm"}, []string{"debian:bookworm"}},
		{"local docker action", []string{"./hello"}, []string{"hookci-test/hello-action:v1"}},
		{"remote docker action", []string{"acme/greet@main"}, []string{"acme/greeter:2"}},
		{"nested in composite", []string{"./comp"}, []string{"redis:7", "acme/greeter:2", "hookci-test/hello-action:v1"}},
		{"duplicates once", []string{"./hello", "docker://hookci-test/hello-action:v1", "./comp"}, []string{"hookci-test/hello-action:v1", "redis:7", "acme/greeter:2"}},
		{"nothing to attach", []string{"actions/checkout@v4", "acme/greet/node@main", "acme/greet/built@main", "./df", "./expr", "./broken", "./missing", "acme/nosuch@v1", "not a ref"}, nil},
	} {
		got := e.r.DockerImages(context.Background(), tc.uses, read)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
