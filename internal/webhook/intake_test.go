package webhook

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// watchedBody records whether the handler read any of it.
type watchedBody struct {
	r    io.Reader
	read atomic.Bool
}

func (b *watchedBody) Read(p []byte) (int, error) { b.read.Store(true); return b.r.Read(p) }

// TestRefusedBeforeTheBodyIsRead: what the headers alone condemn is refused
// without reading a byte of the (unauthenticated) body.
func TestRefusedBeforeTheBodyIsRead(t *testing.T) {
	h, _ := newHandler(t)
	good := SignatureHeader([]byte(secret), []byte("{}"))
	for _, tc := range []struct {
		name        string
		sig, ctype  string
		length      int64
		wantStatus  int
		wantOutcome string
	}{
		{"no signature", "", "application/json", 2, 401, OutcomeBadSignature},
		{"sha1 signature", "sha1=" + strings.Repeat("0", 40), "application/json", 2, 401, OutcomeBadSignature},
		{"short signature", "sha256=abcd", "application/json", 2, 401, OutcomeBadSignature},
		{"non-hex signature", "sha256=" + strings.Repeat("z", 64), "application/json", 2, 401, OutcomeBadSignature},
		{"form encoded", good, "application/x-www-form-urlencoded", 2, 415, OutcomeMalformed},
		{"over the limit", good, "application/json", MaxBody + 1, 413, OutcomeTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var outcome string
			h.observe = func(_, o string) { outcome = o }
			body := &watchedBody{r: strings.NewReader("{}")}
			req := httptest.NewRequest(http.MethodPost, "/webhook", body)
			req.ContentLength = tc.length
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-GitHub-Delivery", "early")
			req.Header.Set("Content-Type", tc.ctype)
			if tc.sig != "" {
				req.Header.Set("X-Hub-Signature-256", tc.sig)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus || outcome != tc.wantOutcome {
				t.Errorf("got %d %s, want %d %s (%s)", rec.Code, outcome, tc.wantStatus, tc.wantOutcome, rec.Body)
			}
			if body.read.Load() {
				t.Error("the body was read before refusing")
			}
		})
	}
}

// TestIntakeSlotsAreBounded: with every intake slot held by a request whose
// body trickles in, one more request is answered 503 with Retry-After at
// once (it does not queue); a second large body is refused while one large
// slot is held; once the slots free, requests are served again.
func TestIntakeSlotsAreBounded(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := New(secret, st, Options{MaxConcurrent: 2, MaxLarge: 1})
	srv := httptest.NewServer(h)
	defer srv.Close()
	sig := SignatureHeader([]byte("wrong"), []byte("x"))
	send := func(body io.Reader, length int64) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, body)
		req.ContentLength = length
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", "slots")
		req.Header.Set("X-Hub-Signature-256", sig)
		return http.DefaultClient.Do(req)
	}
	// One large (2 MiB announced) and one small request, both stalled.
	var writers []*io.PipeWriter
	done := make(chan int, 2)
	for _, length := range []int64{2 << 20, 10} {
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		go func() {
			resp, err := send(pr, length)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		pw.Write([]byte("{")) // the handler is reading: it holds its slot
	}
	for deadline := time.Now().Add(10 * time.Second); len(h.limits.slots) < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the stalled requests hold %d slots, want 2", len(h.limits.slots))
		}
	}
	resp, err := send(strings.NewReader("{}"), 2)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("request over the limit: got %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for _, pw := range writers {
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}
	for range writers {
		<-done
	}
	// The slots are free again: a request is read and judged (bad signature).
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := send(bytes.NewReader([]byte("{}")), 2)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the stalled requests ended: got %d, want 401", resp.StatusCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLargeSlotRefusesSecondLargeBody: a chunked body that grows over
// SmallBody needs the large slot; while it is held, the body is refused 503.
func TestLargeSlotRefusesSecondLargeBody(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := New(secret, st, Options{MaxConcurrent: 4, MaxLarge: 1})
	release, ok := h.limits.tryLarge() // someone else holds the large slot
	if !ok {
		t.Fatal("no large slot")
	}
	defer release()
	big := bytes.Repeat([]byte(" "), 2*SmallBody)
	for _, tc := range []struct {
		name   string
		length int64
	}{{"announced", int64(len(big))}, {"chunked", -1}} {
		req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(big))
		req.ContentLength = tc.length
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", SignatureHeader([]byte(secret), big))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s: got %d, want 503 while the large slot is held", tc.name, rec.Code)
		}
	}
}

// TestReplayAnswer: the same signed body under a new delivery id is answered
// 200 duplicate naming the original, and is not queued.
func TestReplayAnswer(t *testing.T) {
	h, st := newHandler(t)
	body := []byte(`{"after":"` + strings.Repeat("e", 40) + `","repository":{"full_name":"o/r"}}`)
	sig := SignatureHeader([]byte(secret), body)
	if rec := post(h, "push", "orig", body, sig); rec.Code != 202 {
		t.Fatalf("first: %d %s", rec.Code, rec.Body)
	}
	// The event header is not signed: changing it does not make a new payload.
	for _, event := range []string{"push", "create", "workflow_dispatch"} {
		rec := post(h, event, "replay-"+event, body, sig)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"replay of orig"`) {
			t.Errorf("%s replay: %d %s, want 200 duplicate (replay of orig)", event, rec.Code, rec.Body)
		}
	}
	if n, _ := st.QueueDepth(context.Background()); n != 1 {
		t.Errorf("queue depth %d, want 1", n)
	}
}

func TestEventLabelAndLogFields(t *testing.T) {
	for _, tc := range []struct{ event, want string }{
		{"push", "push"}, {"projects_v2_item", "projects_v2_item"}, {"", "unknown"},
		{"pushx", "other"}, {strings.Repeat("a", 500<<10), "other"}, {"PUSH", "other"},
	} {
		if got := EventLabel(tc.event); got != tc.want {
			t.Errorf("EventLabel(%.20q) = %q, want %q", tc.event, got, tc.want)
		}
	}
	if got := logField(strings.Repeat("x", 10000)); len(got) > maxLogField+len("…") {
		t.Errorf("logField kept %d bytes, want at most %d", len(got), maxLogField)
	}
}

// TestWrongMethodCounted: a request other than POST is refused 405 with
// Allow: POST, and counted and recorded as malformed like every other
// refused request.
func TestWrongMethodCounted(t *testing.T) {
	h, _ := newHandler(t)
	var outcome string
	h.observe = func(_, o string) { outcome = o }
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/webhook", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPost || outcome != OutcomeMalformed ||
		!strings.Contains(rec.Body.String(), "use POST, not GET") {
		t.Errorf("GET /webhook: got %d, Allow %q, outcome %q, body %s; want 405, POST, %q", rec.Code,
			rec.Header().Get("Allow"), outcome, rec.Body.String(), OutcomeMalformed)
	}
}
