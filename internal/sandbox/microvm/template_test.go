package microvm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent"
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

// TestClonesShareNothing is one job attacking the next through the
// template. Job A (a clone) receives a secret the way a job does (in its
// exec environment), writes it into every writable place it can think of
// and leaves a process holding it behind. Job B, a clone of the same
// template started while A still runs, must find none of it: no file, no
// process, and an empty workspace and temp directory (the template's
// warm-up left nothing either). The template's RAM file on the host must
// not hold the secret (a clone's RAM is a private copy-on-write mapping:
// were it shared, A's writes would land in every later clone). A's agent
// session ends with A: its client no longer answers.
func TestClonesShareNothing(t *testing.T) {
	b := newTestBackend(t, func(c *Config) { c.Template = true })
	var raw [16]byte
	rand.Read(raw[:])
	secret := "hookci-secret-" + hex.EncodeToString(raw[:])
	places := []string{"/home/runner/work/w", "/home/runner/work/_temp", "/home/runner", "/tmp", "/var/tmp", "/dev/shm", "/root", "/etc", "/run"}
	a := startVM(t, b, sandbox.Spec{ID: "job-a"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	write := `for d in ` + strings.Join(places, " ") + `; do printf '%s\n' "$SECRET" > "$d/leak-a" || exit 1; done
setsid bash -c 'exec sleep 600' </dev/null >/dev/null 2>&1 &
cat /home/runner/leak-a`
	var out bytes.Buffer
	res, err := a.Client.Exec(ctx, agent.ExecRequest{Argv: []string{"bash", "-c", write}, Env: append(guestEnv, "SECRET="+secret), Dir: "/"}, &out)
	if err != nil || res.ExitCode != 0 || strings.TrimSpace(out.String()) != secret {
		t.Fatalf("job A writing its secret: exit %d, %v, output %q", res.ExitCode, err, out.String())
	}

	bInst := startVM(t, b, sandbox.Spec{ID: "job-b"})
	look := `for d in ` + strings.Join(places, " ") + `; do test -e "$d/leak-a" && echo "file $d/leak-a"; done
grep -lF -f /run/pattern /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | sed 's/^/process /'
for d in /home/runner/work/w /home/runner/work/_temp; do test -z "$(ls -A "$d")" || echo "not empty: $d: $(ls -A "$d")"; done
true`
	out.Reset()
	res, err = bInst.Client.Exec(ctx, agent.ExecRequest{Argv: []string{"bash", "-c", look}, Env: guestEnv, Dir: "/",
		Files: []agent.FileSpec{{Path: "/run/pattern", Data: []byte(secret + "\n"), Mode: 0o600}}}, &out)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("job B looking: exit %d, %v, output %q", res.ExitCode, err, out.String())
	}
	if got := strings.TrimSpace(out.String()); got != "" {
		t.Errorf("job B sees what job A left:\n%s", got)
	}

	// The template's RAM on the host: A's writes must not be there.
	ram := filepath.Join(b.cfg.WorkDir, "templates", b.shape(sandbox.Spec{}).key(), ramName)
	if found, err := fileContains(ram, []byte(secret)); err != nil {
		t.Fatalf("reading the template's RAM: %v", err)
	} else if found {
		t.Errorf("the template's RAM file %s holds job A's secret: clones share memory", ram)
	}

	aClient := a.Client
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := aClient.Info(ctx); err == nil {
		t.Error("job A's agent client still answers after A was closed")
	}
	if _, err := bInst.Client.Info(ctx); err != nil {
		t.Errorf("job B's session broke when A closed: %v", err)
	}
}

// fileContains reports whether the file at path contains needle.
func fileContains(path string, needle []byte) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	buf := make([]byte, 4<<20)
	keep := len(needle) - 1
	n0 := 0
	for {
		n, err := io.ReadFull(f, buf[n0:])
		if bytes.Contains(buf[:n0+n], needle) {
			return true, nil
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		n0 = copy(buf, buf[n0+n-keep:n0+n])
	}
}
