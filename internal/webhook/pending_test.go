package webhook

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// holdWriteLock takes SQLite's write lock on the store in dir from a
// connection of its own (BEGIN IMMEDIATE), as a stalled fsync or a long
// writer would hold it; the returned func lets it go.
func holdWriteLock(t *testing.T, dir string) (letGo func()) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "hookci.db"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	letGo = func() {
		once.Do(func() {
			conn.ExecContext(context.Background(), "ROLLBACK")
			conn.Close()
			db.Close()
		})
	}
	t.Cleanup(letGo)
	return letGo
}

// pushBody is a distinct planned push delivery for o/r.
func pushBody(i int) []byte {
	return []byte(fmt.Sprintf(`{"ref":"refs/heads/main","after":"%040x","repository":{"full_name":"o/r"}}`, i+1))
}

// sendPush posts body as delivery id over HTTP and returns the status and
// Retry-After.
func sendPush(url, id string, body []byte) (int, string, error) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", SignatureHeader([]byte(secret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After"), nil
}

// TestStalledWriteDoesNotRefuse: while the database's write lock is held (a
// stalled disk), ten times as many deliveries as there are intake slots
// arrive; each is read, verified and waits for its write without holding a
// slot, and every one is acknowledged 202 and stored once the lock goes.
// With slots held through the write, all but four were answered 503.
func TestStalledWriteDoesNotRefuse(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	const slots, n = 4, 40
	h := New(secret, st, Options{MaxConcurrent: slots})
	srv := httptest.NewServer(h)
	defer srv.Close()
	letGo := holdWriteLock(t, dir)
	var want int64
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = pushBody(i)
		want += int64(len(bodies[i]))
	}
	codes := make(chan string, n)
	for i := range n {
		go func() {
			code, _, err := sendPush(srv.URL, fmt.Sprintf("stall-%d", i), bodies[i])
			codes <- fmt.Sprint(code, err)
		}()
	}
	// Every delivery is read and waiting: the pending bytes are all of
	// theirs and no slot is held.
	for deadline := time.Now().Add(20 * time.Second); h.pending.used.Load() != want; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pending %d bytes, want all %d deliveries' %d (slots held %d)", h.pending.used.Load(), n, want, len(h.limits.slots))
		}
	}
	if held := len(h.limits.slots); held != 0 {
		t.Errorf("%d intake slots held by deliveries waiting for their write, want 0", held)
	}
	letGo()
	got := map[string]int{}
	for range n {
		got[<-codes]++
	}
	if got["202 <nil>"] != n {
		t.Errorf("answers %v, want %d × 202", got, n)
	}
	if c, err := st.Queries().CountDeliveries(context.Background()); err != nil || c != n {
		t.Errorf("stored %d deliveries (%v), want %d", c, err, n)
	}
	if u := h.pending.used.Load(); u != 0 {
		t.Errorf("pending budget not given back: %d bytes", u)
	}
}

// TestPendingBudgetRefuses: the bytes waiting for their write are bounded;
// one delivery over the budget is answered 503 with Retry-After at once
// (it is not stored), and those within it are stored when the lock goes.
func TestPendingBudgetRefuses(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	size := int64(len(pushBody(0)))
	h := New(secret, st, Options{MaxPending: 2*size + size/2})
	srv := httptest.NewServer(h)
	defer srv.Close()
	letGo := holdWriteLock(t, dir)
	codes := make(chan string, 2)
	for i := range 2 {
		go func() {
			code, _, err := sendPush(srv.URL, fmt.Sprintf("within-%d", i), pushBody(i))
			codes <- fmt.Sprint(code, err)
		}()
	}
	for deadline := time.Now().Add(20 * time.Second); h.pending.used.Load() != 2*size; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pending %d bytes, want %d", h.pending.used.Load(), 2*size)
		}
	}
	code, retry, err := sendPush(srv.URL, "over", pushBody(2))
	if err != nil || code != http.StatusServiceUnavailable || retry == "" {
		t.Errorf("over the pending budget: got %d Retry-After %q (%v), want 503 with Retry-After", code, retry, err)
	}
	letGo()
	for range 2 {
		if c := <-codes; c != "202 <nil>" {
			t.Errorf("within the budget: got %s, want 202", c)
		}
	}
	if _, err := st.Queries().Delivery(context.Background(), "over"); err == nil {
		t.Error("the refused delivery was stored")
	}
}

// TestAcceptedPayloadIsOwned: the payload handed to Options.Accepted (the
// prefetcher parses it on a goroutine of its own) stays the delivery's
// bytes after the request ends; it is not a pooled buffer that the next
// request overwrites.
func TestAcceptedPayloadIsOwned(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var kept [][]byte
	h := New(secret, st, Options{Accepted: func(d store.Delivery) { kept = append(kept, d.Payload) }})
	const n = 5
	for i := range n {
		b := pushBody(i)
		if rec := post(h, "push", fmt.Sprintf("owned-%d", i), b, SignatureHeader([]byte(secret), b)); rec.Code != http.StatusAccepted {
			t.Fatalf("delivery %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	if len(kept) != n {
		t.Fatalf("Accepted saw %d deliveries, want %d", len(kept), n)
	}
	for i, p := range kept {
		if string(p) != string(pushBody(i)) {
			t.Errorf("payload %d kept by Accepted now reads %q, want %q", i, p, pushBody(i))
		}
	}
}
