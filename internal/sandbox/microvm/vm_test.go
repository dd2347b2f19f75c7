package microvm

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
)

var guestEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/home/runner"}

// run executes a bash script in the guest and returns its output and exit code.
func run(t *testing.T, inst *sandbox.Instance, script string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	res, err := inst.Client.Exec(ctx, agent.ExecRequest{Argv: []string{"bash", "-c", script}, Env: guestEnv, Dir: inst.Layout.Workspace}, &out)
	if err != nil {
		t.Fatalf("Exec %q: %v (output %q)", script, err, out.String())
	}
	return out.String(), res.ExitCode
}

func TestBootExec(t *testing.T) {
	b := newTestBackend(t, nil)
	inst := startVM(t, b, sandbox.Spec{ID: "boot"})
	t.Logf("accel %s", b.Accel())
	out, code := run(t, inst, "uname -a")
	if code != 0 || !strings.Contains(out, "Linux") {
		t.Errorf("uname -a: got %q (exit %d), want Linux… (exit 0)", out, code)
	}
}
