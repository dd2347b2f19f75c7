package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Intake limits. Memory held by bodies being read is at most
// MaxConcurrent×SmallBody + MaxLarge×MaxBody (with the defaults 32 MiB + 50 MiB),
// whatever is sent, before any signature is known to be good. A small body
// whose signature is good is copied out and its slot freed while it waits to
// be stored: those copies are bounded by MaxPending bytes (default 64 MiB),
// so that a slow disk (an fsync that stalls for tens of milliseconds) holds
// deliveries in memory rather than answering GitHub 503.
const (
	// SmallBody is the body size a request may hold with an ordinary intake
	// slot; a bigger one also needs one of the few large slots.
	SmallBody = 1 << 20
	// MaxHeaderBytes is the header size the HTTP server accepts (net/http
	// answers 431 beyond it); set it on the http.Server that mounts Handler.
	MaxHeaderBytes = 64 << 10
	// maxLogField is how much of an unauthenticated value goes into a log line.
	maxLogField = 64
)

// limiter bounds how many request bodies are read at once, and how many of
// them may be large. It never queues: a request over a limit is refused.
type limiter struct {
	slots chan struct{}
	large chan struct{}
}

func newLimiter(n, large int) *limiter {
	return &limiter{slots: make(chan struct{}, n), large: make(chan struct{}, large)}
}

// acquire takes a slot for a body of length bytes (-1: unknown), and a large
// slot too when length is over SmallBody. ok is false when none is free.
func (l *limiter) acquire(length int64) (release func(), ok bool) {
	select {
	case l.slots <- struct{}{}:
	default:
		return nil, false
	}
	if length > SmallBody {
		select {
		case l.large <- struct{}{}:
			return func() { <-l.large; <-l.slots }, true
		default:
			<-l.slots
			return nil, false
		}
	}
	return func() { <-l.slots }, true
}

// pendingBudget bounds the bytes of verified deliveries waiting for their
// durable write after their read slot was freed.
type pendingBudget struct {
	used atomic.Int64
	max  int64
}

// take reserves n bytes; false when that would go over the budget.
func (p *pendingBudget) take(n int64) bool {
	if p.used.Add(n) > p.max {
		p.used.Add(-n)
		return false
	}
	return true
}

func (p *pendingBudget) give(n int64) { p.used.Add(-n) }

// tryLarge takes a large slot for a body that grew over SmallBody.
func (l *limiter) tryLarge() (release func(), ok bool) {
	select {
	case l.large <- struct{}{}:
		return func() { <-l.large }, true
	default:
		return nil, false
	}
}

// errBusy: the body grew over SmallBody and no large slot was free.
var errBusy = errors.New("intake busy")

// bufferPool reuses buffers of bodies up to SmallBody (at most one per
// intake slot is in use), and read chunks; larger buffers are not kept.
type bufferPool struct{ p, chunks sync.Pool }

// readChunk is the size of one read from a request body.
const readChunk = 32 << 10

func (b *bufferPool) chunk() *[]byte {
	if v, ok := b.chunks.Get().(*[]byte); ok {
		return v
	}
	c := make([]byte, readChunk)
	return &c
}

func (b *bufferPool) putChunk(c *[]byte) { b.chunks.Put(c) }

func (b *bufferPool) get() *bytes.Buffer {
	if v, ok := b.p.Get().(*bytes.Buffer); ok {
		v.Reset()
		return v
	}
	// Sized once for the largest small body, so that reading never grows
	// (and discards) buffers.
	return bytes.NewBuffer(make([]byte, 0, SmallBody))
}

func (b *bufferPool) put(buf *bytes.Buffer) {
	if buf.Cap() <= 2*SmallBody {
		buf.Reset()
		b.p.Put(buf)
	}
}

// signedBody is a request body whose signature matched.
type signedBody struct {
	pool *bufferPool // where buf came from; nil for a large body's buffer and after detach
	buf  *bytes.Buffer
	// fingerprint is the hex SHA-256 of the raw body: the payload's identity
	// for replay detection.
	fingerprint string
}

func (b *signedBody) bytes() []byte { return b.buf.Bytes() }

// small says whether the body is at most SmallBody bytes.
func (b *signedBody) small() bool { return b.buf.Len() <= SmallBody }

// detach copies the body into a buffer of its own size and returns a pooled
// one to the pool: what waits to be stored (and what Options.Accepted keeps)
// is the delivery's own bytes, never a buffer the next request will reuse.
func (b *signedBody) detach() {
	own := bytes.NewBuffer(bytes.Clone(b.buf.Bytes()))
	if b.pool != nil {
		b.pool.put(b.buf)
	}
	b.buf, b.pool = own, nil
}

// free returns a pooled buffer to the pool (the body must not be used after).
func (b *signedBody) free() {
	if b.pool != nil {
		b.pool.put(b.buf)
	}
}

// readBody streams the body through the HMAC and the fingerprint hash into a
// pooled buffer, up to MaxBody, and checks the signature against want.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, want []byte) (*signedBody, error) {
	var buf *bytes.Buffer
	if r.ContentLength > SmallBody {
		// The large slot is held: one allocation of the announced size.
		buf = bytes.NewBuffer(make([]byte, 0, r.ContentLength))
	} else {
		buf = h.bufs.get()
	}
	ok := false
	defer func() {
		if !ok {
			h.bufs.put(buf)
		}
	}()
	mac := hmac.New(sha256.New, h.secret)
	sum := sha256.New() // of the raw body only: X-GitHub-Event is not signed, so a replay may change it
	var releaseLarge func()
	defer func() {
		if releaseLarge != nil {
			releaseLarge()
		}
	}()
	body := http.MaxBytesReader(w, r.Body, MaxBody)
	// The read chunk is pooled too: a fresh 32 KiB per request was a large
	// allocation, zeroed, on every delivery.
	chunk := h.bufs.chunk()
	defer h.bufs.putChunk(chunk)
	for {
		n, err := body.Read(*chunk)
		if n > 0 {
			if buf.Len()+n > SmallBody && r.ContentLength <= SmallBody && releaseLarge == nil {
				var got bool
				if releaseLarge, got = h.limits.tryLarge(); !got {
					return nil, errBusy
				}
				// Move to one buffer of the largest size, allocated once:
				// growing by doubling would leave ~2× in garbage.
				large := bytes.NewBuffer(make([]byte, 0, MaxBody))
				large.Write(buf.Bytes())
				h.bufs.put(buf)
				buf = large
			}
			mac.Write((*chunk)[:n])
			sum.Write((*chunk)[:n])
			buf.Write((*chunk)[:n])
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if !hmac.Equal(mac.Sum(nil), want) {
		return nil, errSignature
	}
	ok = true
	sb := &signedBody{buf: buf, fingerprint: hexSum(sum)}
	if r.ContentLength <= SmallBody && releaseLarge == nil {
		sb.pool = &h.bufs // it came from the pool
	}
	return sb, nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

var errSignature = errors.New("signature does not match")

// rejectRead answers a body that could not be read or did not verify.
func (h *Handler) rejectRead(w http.ResponseWriter, event string, err error) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, errSignature):
		h.reject(w, event, OutcomeBadSignature, http.StatusUnauthorized, err.Error())
	case errors.Is(err, errBusy):
		h.busy(w, event)
	case errors.As(err, &tooBig):
		h.reject(w, event, OutcomeTooLarge, http.StatusRequestEntityTooLarge, fmt.Sprintf("payload over %d bytes", MaxBody))
	default:
		h.reject(w, event, OutcomeMalformed, http.StatusBadRequest, "could not read body")
	}
}

// parseSignature reads GitHub's X-Hub-Signature-256 ("sha256=<hex HMAC of
// the body>"). The SHA-1 X-Hub-Signature header is never enough.
func parseSignature(header string) ([]byte, error) {
	if header == "" {
		return nil, errors.New("missing X-Hub-Signature-256 header")
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return nil, errors.New("X-Hub-Signature-256 is not of the form sha256=<hex>")
	}
	sig, err := hex.DecodeString(hexSig)
	if err != nil {
		return nil, errors.New("X-Hub-Signature-256 is not of the form sha256=<hex>")
	}
	return sig, nil
}

// checkContentType accepts application/json (GitHub's recommended setting)
// and a missing header; the form encoding is refused with what to change.
func checkContentType(ct string) error {
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && mt == "application/json" {
		return nil
	}
	return fmt.Errorf("content type %q is not accepted: set the webhook's content type to application/json", logField(ct))
}

// logField cuts an unauthenticated value for a log line or a message.
func logField(s string) string {
	if len(s) <= maxLogField {
		return s
	}
	return s[:maxLogField] + "…"
}

// validEvent reports whether an X-GitHub-Event value is shaped like an event
// name (the header is not covered by the signature).
func validEvent(s string) bool {
	if s == "" || len(s) > maxLogField {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// knownEvents are GitHub's webhook event names: the only values that become
// a metric label. Built once, only read.
var knownEvents = func() map[string]bool {
	m := map[string]bool{}
	for _, e := range strings.Fields(`branch_protection_configuration branch_protection_rule check_run check_suite
		code_scanning_alert commit_comment create custom_property custom_property_values delete dependabot_alert
		deploy_key deployment deployment_protection_rule deployment_review deployment_status discussion
		discussion_comment fork github_app_authorization gollum installation installation_repositories
		installation_target issue_comment issues label marketplace_purchase member membership merge_group meta
		milestone org_block organization package page_build personal_access_token_request ping project
		project_card project_column projects_v2 projects_v2_item projects_v2_status_update public pull_request
		pull_request_review pull_request_review_comment pull_request_review_thread pull_request_target push
		registry_package release repository repository_advisory repository_dispatch repository_import
		repository_ruleset repository_vulnerability_alert secret_scanning_alert secret_scanning_alert_location
		secret_scanning_scan security_advisory security_and_analysis sponsorship star status sub_issues team
		team_add watch workflow_dispatch workflow_job workflow_run`) {
		m[e] = true
	}
	return m
}()

// EventLabel is the metric label of an X-GitHub-Event value: the name when
// it is one of GitHub's events, "unknown" when missing, else "other". The
// set is fixed, so no request can add series.
func EventLabel(event string) string {
	switch {
	case event == "":
		return "unknown"
	case knownEvents[event]:
		return event
	}
	return "other"
}

// EventLabels lists every value EventLabel can return.
func EventLabels() []string {
	out := []string{"unknown", "other"}
	for e := range knownEvents {
		out = append(out, e)
	}
	return out
}
