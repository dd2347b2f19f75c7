package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
)

// attackerEnv makes this test binary act as the attacker: run by a job's
// step, it performs the attack named by its arguments instead of testing.
const attackerEnv = "HOOKCI_TEST_ATTACKER"

func TestMain(m *testing.M) {
	if os.Getenv(attackerEnv) != "" {
		os.Exit(attackerMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// attackerMain is the attacker's one mode, "routes SOCK": connect to the
// agent socket SOCK and call the /containers routes, printing one line
// "<route> <result>" each, where result is "404" (route not served), "ok"
// or "error:<message>".
func attackerMain(args []string) int {
	if len(args) != 2 || args[0] != "routes" {
		fmt.Println("attacker: want routes SOCK")
		return 2
	}
	conn, err := net.DialTimeout("unix", args[1], 5*time.Second)
	if err != nil {
		fmt.Println("attacker: connect:", err)
		return 2
	}
	c, err := agent.NewClient(conn)
	if err != nil {
		fmt.Println("attacker:", err)
		return 2
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Info(ctx); err != nil {
		fmt.Println("attacker: not an agent:", err)
		return 2
	}
	show := func(route string, err error) {
		switch {
		case err == nil:
			fmt.Println(route, "ok")
		case errors.Is(err, fs.ErrNotExist):
			fmt.Println(route, "404")
		default:
			fmt.Println(route, "error:"+strings.ReplaceAll(err.Error(), " ", "_"))
		}
	}
	// As root, this would be a container of the host's / outside the job's
	// session (which Close kills) had the route answered. The disk serial
	// is made up, so that a regression fails before mounting anything.
	show("POST_/containers", c.StartContainer(ctx, agent.ContainerStart{Name: "escape", DiskSerial: "hookci-attack", Hostname: "escape",
		Binds: []agent.ContainerBind{{Source: "/", Target: "/host"}}}))
	show("DELETE_/containers", c.StopContainer(ctx, "escape"))
	conn2, err := c.DialContainer(ctx, "escape")
	if err == nil {
		conn2.Close()
	}
	show("POST_/containers/conn", err)
	return 0
}

// TestAttackContainerRoutes: a host-sandbox job's step (which runs as
// hookci's own user and can reach its agent's socket: the host backend
// isolates nothing) asks its agent to start a container binding the host's
// / and to connect to it. The agent serves no /containers route (404):
// those are the microVM guest's alone.
func TestAttackContainerRoutes(t *testing.T) {
	b := newBackend(t)
	ctx := context.Background()
	inst, err := b.Start(ctx, sandbox.Spec{ID: "routes"})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(filepath.Dir(inst.Layout.Workspace), socketName)
	var out strings.Builder
	res, err := inst.Client.Exec(ctx, agent.ExecRequest{Argv: []string{exe, "routes", sock},
		Env: append(env(), attackerEnv+"=1"), Dir: inst.Layout.Workspace}, &out)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("attacker: exit %d, %v (output %q)", res.ExitCode, err, out.String())
	}
	t.Logf("the step's attack:\n%s", out.String())
	for _, route := range []string{"POST_/containers", "DELETE_/containers", "POST_/containers/conn"} {
		if !strings.Contains(out.String(), route+" 404\n") {
			t.Errorf("%s from a host job's step: got %q, want 404 (route not served)", route, out.String())
		}
	}
}
