package namespace

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
)

// TestAttackForwardStaysInSandbox: the agent's port relay (POST /forward,
// a service's `ports: ["h:c"]`) is served to whoever reaches the agent,
// the job included. The attack: ask the sandbox's agent to relay a port to
// a service listening on the host's loopback. The relay must only ever
// reach the sandbox's own loopback (nothing of the host's answers through
// it), and must not open a port on the host.
func TestAttackForwardStaysInSandbox(t *testing.T) {
	b := newBackend(t, Config{})
	inst := start(t, b, sandbox.Spec{ID: "fwd"})
	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	reached := make(chan struct{}, 16)
	go func() {
		for {
			c, err := host.Accept()
			if err != nil {
				return
			}
			reached <- struct{}{}
			c.Write([]byte("HOST-SECRET\n"))
			c.Close()
		}
	}()
	hostPort := host.Addr().(*net.TCPAddr).Port
	relay := 20000 + hostPort%10000
	if relay == hostPort {
		relay++
	}
	ctx := context.Background()
	if err := inst.Client.Forward(ctx, agent.ForwardRequest{Port: relay, TargetPort: hostPort}); err != nil {
		t.Fatalf("forward in the sandbox: %v", err)
	}
	// From inside: the relay answers (it listens in the sandbox's network)
	// but only relays to the sandbox's loopback, where nothing listens.
	p := strconv.Itoa(relay)
	_, out := run(t, inst, `bash -c 'exec 3<>/dev/tcp/127.0.0.1/`+p+` && { echo connected; timeout 3 cat <&3; } || echo refused'`)
	if strings.Contains(out, "HOST-SECRET") {
		t.Errorf("the relay reached the host's loopback service from the sandbox: %q", out)
	}
	if !strings.Contains(out, "connected") {
		t.Errorf("the relay did not listen in the sandbox (control): %q", out)
	}
	// From the host: no port was opened on the host's loopback.
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+p, time.Second); err == nil {
		c.Close()
		t.Errorf("the relay opened port %s on the host", p)
	}
	select {
	case <-reached:
		t.Error("the host's loopback service was reached")
	default:
	}
}
