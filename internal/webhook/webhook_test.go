package webhook

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/corpus"
	"github.com/hookci/hookci/internal/store"
)

const secret = "test-secret"

func newHandler(t *testing.T) (*Handler, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(secret, st, Options{}), st
}

func post(h http.Handler, event, delivery string, body []byte, sig string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
	if event != "" {
		req.Header.Set("X-GitHub-Event", event)
	}
	if delivery != "" {
		req.Header.Set("X-GitHub-Delivery", delivery)
	}
	if sig != "" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestGitHubSignatureVector(t *testing.T) {
	// GitHub's documented example.
	got := hex.EncodeToString(Sign([]byte("It's a Secret to Everybody"), []byte("Hello, World!")))
	want := "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestHandlerAnswers(t *testing.T) {
	push := []byte(`{"ref":"refs/heads/main","after":"` + strings.Repeat("a", 40) + `","repository":{"full_name":"o/r"}}`)
	deleted := []byte(`{"ref":"refs/heads/x","deleted":true,"after":"` + strings.Repeat("0", 40) + `","repository":{"full_name":"o/r"}}`)
	sign := func(b []byte) string { return SignatureHeader([]byte(secret), b) }
	big := bytes.Repeat([]byte(" "), MaxBody+1<<20)
	for _, tc := range []struct {
		name       string
		event, id  string
		body       []byte
		sig        string
		wantStatus int
		wantStored bool
	}{
		{"accepted", "push", "d1", push, sign(push), 202, true},
		{"no signature", "push", "d2", push, "", 401, false},
		{"wrong secret", "push", "d3", push, SignatureHeader([]byte("other"), push), 401, false},
		{"sha1 only", "push", "d4", push, "sha1=" + strings.Repeat("0", 40), 401, false},
		{"garbage signature", "push", "d5", push, "sha256=zz", 401, false},
		{"too large", "push", "d6", big, sign(big), 413, false},
		{"malformed json", "push", "d7", []byte("{nope"), sign([]byte("{nope")), 400, false},
		{"no event header", "", "d8", push, sign(push), 400, false},
		{"no delivery id", "push", "", push, sign(push), 400, false},
		{"ping", "ping", "d9", []byte(`{"zen":"Keep it simple.","hook_id":42}`), sign([]byte(`{"zen":"Keep it simple.","hook_id":42}`)), 200, false},
		{"other event", "star", "d10", push, sign(push), 200, true},
		{"branch deletion", "push", "d11", deleted, sign(deleted), 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, st := newHandler(t)
			rec := post(h, tc.event, tc.id, tc.body, tc.sig)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", rec.Code, tc.wantStatus, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var v map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				t.Errorf("body is not JSON: %v: %s", err, rec.Body)
			}
			if tc.wantStatus >= 400 && v["error"] == nil {
				t.Errorf("error answer has no error field: %s", rec.Body)
			}
			n, _ := st.Queries().CountDeliveries(context.Background())
			if got := n > 0; got != tc.wantStored {
				t.Errorf("stored = %v, want %v", got, tc.wantStored)
			}
			depth, _ := st.QueueDepth(context.Background())
			if wantQueued := tc.wantStatus == 202; (depth > 0) != wantQueued {
				t.Errorf("queue depth = %d, want queued = %v", depth, wantQueued)
			}
		})
	}
}

func TestAllowList(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := New(secret, st, Options{Allowed: func(repo string) bool { return repo == "o/allowed" }})
	for repo, want := range map[string]int{"o/allowed": 202, "o/other": 200} {
		body := []byte(`{"after":"` + strings.Repeat("d", 40) + `","repository":{"full_name":"` + repo + `"}}`)
		rec := post(h, "push", "allow-"+repo, body, SignatureHeader([]byte(secret), body))
		if rec.Code != want {
			t.Errorf("%s: status %d (%s), want %d", repo, rec.Code, rec.Body, want)
		}
		if want == 200 && !strings.Contains(rec.Body.String(), "allow-list") {
			t.Errorf("%s: answer does not say why: %s", repo, rec.Body)
		}
	}
	if n, _ := st.QueueDepth(context.Background()); n != 1 {
		t.Errorf("queue depth %d, want 1 (only the allowed repository)", n)
	}
}

func TestDuplicateDelivery(t *testing.T) {
	h, st := newHandler(t)
	body := []byte(`{"after":"` + strings.Repeat("b", 40) + `","repository":{"full_name":"o/r"}}`)
	sig := SignatureHeader([]byte(secret), body)
	if rec := post(h, "push", "same", body, sig); rec.Code != 202 {
		t.Fatalf("first: status %d", rec.Code)
	}
	rec := post(h, "push", "same", body, sig)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "duplicate") {
		t.Fatalf("second: status %d body %s, want 200 duplicate", rec.Code, rec.Body)
	}
	if n, _ := st.QueueDepth(context.Background()); n != 1 {
		t.Fatalf("queue depth = %d, want 1 (no second run)", n)
	}
}

// Every real payload from octokit/webhooks goes through the handler: planned
// events are accepted, others ignored, never a panic or a 5xx; a flipped byte
// is refused.
func TestCorpusPayloads(t *testing.T) {
	dir := corpus.Dir(t, "octokit-webhooks", "payload-examples", "api.github.com")
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no payloads under %s: %v", dir, err)
	}
	h, _ := newHandler(t)
	counts := map[int]int{}
	for i, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		event := filepath.Base(filepath.Dir(f))
		id := "corpus-" + string(rune('a'+i%26)) + filepath.Base(f) + event
		rec := post(h, event, id, body, SignatureHeader([]byte(secret), body))
		counts[rec.Code]++
		switch {
		case rec.Code >= 500:
			t.Errorf("%s: status %d: %s", f, rec.Code, rec.Body)
		case event == "ping" && rec.Code != 200:
			t.Errorf("%s: ping answered %d", f, rec.Code)
		case Planned(event) && rec.Code != 202 && !strings.Contains(rec.Body.String(), "deletes") &&
			!strings.Contains(rec.Body.String(), "needs no action"):
			t.Errorf("%s: planned event answered %d: %s", f, rec.Code, rec.Body)
		case !Planned(event) && event != "ping" && rec.Code != 200:
			t.Errorf("%s: other event answered %d", f, rec.Code)
		}
		flipped := bytes.Clone(body)
		flipped[len(flipped)/2] ^= 1
		if rec := post(h, event, id+"-flipped", flipped, SignatureHeader([]byte(secret), body)); rec.Code != 401 {
			t.Errorf("%s with a flipped byte: status %d, want 401", f, rec.Code)
		}
	}
	t.Logf("%d payloads: answers %v", len(files), counts)
}

func FuzzHandler(f *testing.F) {
	f.Add("push", []byte(`{"after":"`+strings.Repeat("c", 40)+`","repository":{"full_name":"o/r"}}`))
	f.Add("ping", []byte(`{"hook_id":1}`))
	f.Add("pull_request", []byte(`{"action":"opened","repository":null}`))
	st, err := store.Open(context.Background(), f.TempDir(), store.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	h := New(secret, st, Options{})
	n := 0
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		n++
		rec := post(h, event, "fuzz-"+hex.EncodeToString([]byte{byte(n >> 16), byte(n >> 8), byte(n)}), body,
			SignatureHeader([]byte(secret), body))
		if rec.Code >= 500 {
			t.Fatalf("status %d for event %q body %q: %s", rec.Code, event, body, rec.Body)
		}
	})
}

// TestAcceptedOnlyForPlannedDeliveries: the Accepted hook (the dispatcher's
// prefetch) sees a signed push of an allowed repository, and nothing
// refused or not planned: a bad signature, a repository off the allow-list,
// a ping, malformed JSON, an event that is not planned.
func TestAcceptedOnlyForPlannedDeliveries(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var seen []string
	h := New(secret, st, Options{Allowed: func(repo string) bool { return repo != "o/other" },
		Accepted: func(d store.Delivery) { seen = append(seen, d.ID+" "+d.Repo+" "+d.SHA) }})
	push := func(repo string) []byte {
		return []byte(`{"after":"` + strings.Repeat("e", 40) + `","repository":{"full_name":"` + repo + `"}}`)
	}
	ok := push("o/r")
	post(h, "push", "planned", ok, SignatureHeader([]byte(secret), ok))
	post(h, "push", "bad-signature", ok, SignatureHeader([]byte("wrong"), ok))
	other := push("o/other")
	post(h, "push", "not-allowed", other, SignatureHeader([]byte(secret), other))
	ping := []byte(`{"zen":"z","hook_id":1}`)
	post(h, "ping", "ping", ping, SignatureHeader([]byte(secret), ping))
	bad := []byte(`{"after":`)
	post(h, "push", "malformed", bad, SignatureHeader([]byte(secret), bad))
	star := []byte(`{"action":"created","repository":{"full_name":"o/r"}}`)
	post(h, "star", "not-planned", star, SignatureHeader([]byte(secret), star))
	if want := "planned o/r " + strings.Repeat("e", 40); len(seen) != 1 || seen[0] != want {
		t.Errorf("Accepted saw %q, want only %q", seen, want)
	}
}
