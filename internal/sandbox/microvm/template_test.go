package microvm

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/netjail/netjailtest"
)

// TestTemplate starts two clones of one template and checks that each works,
// has the host's clock and its own random stream.
func TestTemplate(t *testing.T) {
	b := newTestBackend(t, func(c *Config) { c.Template = true })
	var rnd []string
	for _, id := range []string{"clone-a", "clone-b"} {
		inst := startVM(t, b, sandbox.Spec{ID: id})
		out, code := run(t, inst, "uname -s; date +%s; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || len(lines) != 3 || lines[0] != "Linux" {
			t.Fatalf("%s: got %q (exit %d)", id, out, code)
		}
		guest, _ := strconv.ParseInt(lines[1], 10, 64)
		if d := time.Now().Unix() - guest; d > 5 || d < -5 {
			t.Errorf("%s: guest clock %d is %d s off the host's", id, guest, d)
		}
		rnd = append(rnd, lines[2])
		testClose(t, b, inst, id)
	}
	if rnd[0] == rnd[1] {
		t.Errorf("two clones read the same random bytes %s: the RNG was not reseeded", rnd[0])
	}
}

// TestTemplateNetwork checks that egress survives the snapshot: a clone of
// a networked template, restored by a confined QEMU, reaches the outside and
// not the host (see testNetwork).
func TestTemplateNetwork(t *testing.T) {
	netjailtest.Need(t)
	b := newTestBackend(t, func(c *Config) { c.Template = true })
	out := netjailtest.NewOutside(t)
	startVM(t, b, sandbox.Spec{ID: "net-template", Network: true}) // builds the template
	inst := startVM(t, b, sandbox.Spec{ID: "net-clone", Network: true})
	assertQEMUConfined(t, b, "net-clone")
	testNetwork(t, inst, out)
}
