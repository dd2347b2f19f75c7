package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/store/pgtest"
	"github.com/hookci/hookci/internal/webhook"
)

// TestKill9DuringGroupCommitBurst: many senders post deliveries at once, so
// that intake commits them in shared transactions (group commit); the real
// binary is killed with SIGKILL in the middle of the burst. Every delivery
// it answered 202 must be in the database afterwards, with its planning
// queued or done: a delivery is acknowledged only once the transaction
// holding it has committed, never when merely added to a batch.
func TestKill9DuringGroupCommitBurst(t *testing.T) { testKill9DuringGroupCommitBurst(t, "") }

// TestKill9DuringGroupCommitBurstPostgres: the same on PostgreSQL, whose
// intake group-commits too (store/intake_postgres.go): the server is killed
// mid-burst, PostgreSQL keeps running, and every delivery answered 202 is
// stored.
func TestKill9DuringGroupCommitBurstPostgres(t *testing.T) {
	testKill9DuringGroupCommitBurst(t, pgtest.URL(t))
}

func testKill9DuringGroupCommitBurst(t *testing.T, dbURL string) {
	if testing.Short() {
		t.Skip("builds the binary; skipped in -short mode")
	}
	bin := filepath.Join(t.TempDir(), "hookci")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "HOOKCI_LISTEN="+addr, "HOOKCI_WEBHOOK_SECRET="+e2eSecret, "HOOKCI_DATA_DIR="+data,
		"HOOKCI_GIT_URL=file://"+t.TempDir(), "HOOKCI_SANDBOX=host", "HOOKCI_AGENT_PATH="+agenttest.Binary(t),
		"HOOKCI_GITHUB_TOKEN=", "HOOKCI_WARM_SANDBOXES=0")
	if dbURL != "" {
		cmd.Env = append(cmd.Env, "HOOKCI_DATABASE_URL="+dbURL)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "the server to listen", func() bool {
		r, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			r.Body.Close()
		}
		return err == nil && r.StatusCode == 200
	})

	const senders, killAfter = 48, 400
	var mu sync.Mutex // guards the fields below
	var acked []string
	killed := false
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("burst-%d-%d", s, i)
				body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": strings.Repeat("0", 40),
					"after": fmt.Sprintf("%040x", s*100000+i+1), "repository": map[string]any{"full_name": e2eRepo}})
				req, _ := http.NewRequest("POST", "http://"+addr+"/webhook", strings.NewReader(string(body)))
				req.Header.Set("X-GitHub-Event", "push")
				req.Header.Set("X-GitHub-Delivery", id)
				req.Header.Set("X-Hub-Signature-256", webhook.SignatureHeader([]byte(e2eSecret), body))
				resp, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode == http.StatusAccepted {
					acked = append(acked, id)
				}
				if len(acked) >= killAfter && !killed {
					killed = true
					cmd.Process.Signal(syscall.SIGKILL) // mid-burst: other senders' batches are in flight
				}
				done := killed
				mu.Unlock()
				if done {
					return
				}
			}
		}(s)
	}
	wg.Wait()
	cmd.Wait()

	st, err := store.Open(context.Background(), filepath.Join(data, "db"), store.Options{DatabaseURL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := st.Queries()
	var lost []string
	for _, id := range acked {
		if _, err := q.Delivery(context.Background(), id); err != nil {
			lost = append(lost, id)
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d acknowledged deliveries are not stored after kill -9, e.g. %v", len(lost), len(acked), lost[:min(5, len(lost))])
	}
	n, err := q.CountDeliveries(context.Background())
	if err != nil || n < len(acked) {
		t.Fatalf("got %d stored deliveries (%v), want at least the %d acknowledged", n, err, len(acked))
	}
	t.Logf("%d deliveries acknowledged before kill -9, all stored (%d rows)", len(acked), n)
}
