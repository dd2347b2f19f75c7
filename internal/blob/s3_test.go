package blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/hookci/hookci/internal/blob"
	"github.com/hookci/hookci/internal/blob/s3test"
)

// openS3 opens bucket at endpoint (versitygw, or a proxy in front of it)
// with the test server's credentials.
func openS3(t *testing.T, srv *s3test.Server, endpoint, bucket string, partSize uint64) *blob.S3 {
	t.Helper()
	s, err := blob.OpenS3(context.Background(), blob.S3Config{Endpoint: endpoint, Bucket: bucket, Region: "us-east-1",
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, PartSize: partSize})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// flipProxy forwards TCP connections to target (http://host:port) and
// changes every 0xFF byte the client sends into 0xFE on the way: request
// lines and headers are ASCII, so only bodies are altered, after the
// client signed them. It returns its endpoint and a count of bytes changed.
func flipProxy(t *testing.T, target string) (string, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var flipped atomic.Int64
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", strings.TrimPrefix(target, "http://"))
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			go func() { io.Copy(c, u); c.Close() }()
			go func() {
				b := make([]byte, 32<<10)
				for {
					n, err := c.Read(b)
					for i := range b[:n] {
						if b[i] == 0xff {
							b[i] = 0xfe
							flipped.Add(1)
						}
					}
					if _, werr := u.Write(b[:n]); werr != nil || err != nil {
						u.Close()
						return
					}
				}
			}()
		}
	}()
	return "http://" + l.Addr().String(), &flipped
}

// recorder is a reverse proxy in front of versitygw that records each
// request ("METHOD /path?query", then the checksum headers) and lets hook
// answer one itself.
type recorder struct {
	URL  string
	mu   sync.Mutex
	seen []string
	hook func(w http.ResponseWriter, r *http.Request, n int) bool // n: how many times this METHOD path was seen, this one included
	// forward sends a request on to versitygw (for a hook).
	forward http.HandlerFunc
}

func startRecorder(t *testing.T, target string) *recorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u) // the Host header is kept: it is signed
	rec := &recorder{forward: rp.ServeHTTP}
	counts := map[string]int{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		line := r.Method + " " + r.URL.RequestURI()
		if v := r.Header.Get("X-Amz-Checksum-Crc32c"); v != "" {
			line += " crc32c=" + v
		}
		if v := r.Header.Get("X-Amz-Checksum-Algorithm"); v != "" {
			line += " algorithm=" + v
		}
		rec.seen = append(rec.seen, line)
		counts[r.Method+" "+r.URL.Path]++
		n := counts[r.Method+" "+r.URL.Path]
		hook := rec.hook
		rec.mu.Unlock()
		if hook != nil && hook(w, r, n) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	rec.URL = ts.URL
	return rec
}

func (r *recorder) setHook(h func(w http.ResponseWriter, r *http.Request, n int) bool) {
	r.mu.Lock()
	r.hook = h
	r.mu.Unlock()
}

// count is how many recorded requests start with method and contain all
// of parts.
func (r *recorder) count(method string, parts ...string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
next:
	for _, s := range r.seen {
		if !strings.HasPrefix(s, method+" ") {
			continue
		}
		for _, p := range parts {
			if !strings.Contains(s, p) {
				continue next
			}
		}
		n++
	}
	return n
}

func s3ErrorDoc(code, message string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + code + `</Code><Message>` + message + `</Message></Error>`
}

// TestAttackS3CorruptedBodyRefused: a request body altered after it was
// signed (a byte-flipping proxy between hookci and versitygw) is refused
// by the server, which checks the signed x-amz-content-sha256 against the
// bytes it received; Put fails, and no object appears or is replaced —
// for a single PutObject and for a part of a multipart upload, which is
// aborted.
func TestAttackS3CorruptedBodyRefused(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	direct := srv.Open(t, "integrity")
	ep, flipped := flipProxy(t, srv.Endpoint)
	s := openS3(t, srv, ep, "integrity", 5<<20) // the probe has no 0xFF byte: it passes

	if _, err := s.Put(ctx, "small", strings.NewReader("payload \xff end")); err == nil || !strings.Contains(err.Error(), "XAmzContentSHA256Mismatch") {
		t.Errorf("put of a corrupted body: got %v, want the server's XAmzContentSHA256Mismatch", err)
	}
	if flipped.Load() == 0 {
		t.Fatal("the proxy changed nothing")
	}
	if _, err := direct.Stat(ctx, "small"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after the refused put: got %v, want no object", err)
	}

	if _, err := direct.Put(ctx, "kept", strings.NewReader("old")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "kept", strings.NewReader("new \xff")); err == nil {
		t.Error("replacing with a corrupted body: got nil, want an error")
	}
	if b := readAll(t, direct, "kept"); b != "old" {
		t.Errorf("the object replaced by a refused put reads %q, want old", b)
	}

	// Multipart: the second part is corrupted.
	big := bytes.Repeat([]byte{0x5a}, 11<<20)
	big[7<<20] = 0xff
	if _, err := s.Put(ctx, "big", bytes.NewReader(big)); err == nil || !strings.Contains(err.Error(), "part 2") {
		t.Errorf("multipart put with a corrupted part: got %v, want an error on part 2", err)
	}
	if _, err := direct.Stat(ctx, "big"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after the refused multipart put: got %v, want no object", err)
	}
	if ups, err := direct.UploadsInProgress(ctx); err != nil || len(ups) != 0 {
		t.Errorf("uploads in progress: %v, %v; want none (aborted)", ups, err)
	}

	// The same path carries what it does not alter.
	if _, err := s.Put(ctx, "clean", strings.NewReader("no such byte here")); err != nil {
		t.Errorf("a clean put through the proxy: %v", err)
	}
}

// TestS3ServerChecksCRC32C: Put's x-amz-checksum-crc32c is the CRC32C
// (Castagnoli, big-endian, base64) and versitygw checks it: a body whose
// signed SHA-256 is right but whose CRC32C is not is refused (BadDigest).
func TestS3ServerChecksCRC32C(t *testing.T) {
	if got, want := blob.CRC32C([]byte("123456789")), "4waSgw=="; got != want { // CRC-32C check value 0xE3069283
		t.Errorf("CRC32C(123456789) = %s, want %s", got, want)
	}
	ctx := context.Background()
	srv := s3test.Start(t)
	s := srv.Open(t, "crc")
	body := []byte("checked by the server")
	if err := s.PutRaw(ctx, "bad", body, blob.CRC32C([]byte("something else"))); err == nil || !strings.Contains(err.Error(), "BadDigest") {
		t.Errorf("put with a wrong CRC32C: got %v, want BadDigest", err)
	}
	if _, err := s.Stat(ctx, "bad"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after a refused put: got %v, want no object", err)
	}
	if err := s.PutRaw(ctx, "good", body, blob.CRC32C(body)); err != nil {
		t.Errorf("put with the right CRC32C: %v", err)
	}
	// A multipart upload's part (declared CRC32C at its start).
	if err := s.MultipartRaw(ctx, "bad-part", body, blob.CRC32C([]byte("something else"))); err == nil || !strings.Contains(err.Error(), "BadDigest") {
		t.Errorf("a part with a wrong CRC32C: got %v, want BadDigest", err)
	}
	if _, err := s.Stat(ctx, "bad-part"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after a refused part: got %v, want no object", err)
	}
	if err := s.MultipartRaw(ctx, "good-part", body, blob.CRC32C(body)); err != nil {
		t.Errorf("a part with the right CRC32C: %v", err)
	}
	if b := readAll(t, s, "good-part"); b != string(body) {
		t.Errorf("read back %q", b)
	}
}

// TestS3ListPages: List follows continuation tokens across pages.
func TestS3ListPages(t *testing.T) {
	defer blob.SetListPageSize(2)()
	ctx := context.Background()
	srv := s3test.Start(t)
	rec := startRecorder(t, srv.Endpoint)
	s := openS3(t, srv, rec.URL, "pages", 0)
	var want []string
	for _, i := range []int{4, 0, 6, 2, 5, 1, 3} {
		if _, err := s.Put(ctx, fmt.Sprintf("p/k%d", i), strings.NewReader(strings.Repeat("x", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 7 {
		want = append(want, fmt.Sprintf("p/k%d", i))
	}
	if _, err := s.Put(ctx, "q/other", strings.NewReader("y")); err != nil {
		t.Fatal(err)
	}
	l, err := s.List(ctx, "p/")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, o := range l {
		got = append(got, o.Key)
		if o.Size != int64(i) || time.Since(o.Modified) > time.Hour {
			t.Errorf("%s: size %d, modified %v", o.Key, o.Size, o.Modified)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", got, want)
	}
	if n, m := rec.count("GET", "list-type=2", "max-keys=2"), rec.count("GET", "list-type=2", "continuation-token="); n != 4 || m != 3 {
		t.Errorf("%d list requests (%d with a continuation token), want 4 pages of 2 (3)", n, m)
	}
}

// TestS3Retries: a 503 SlowDown, a 400 RequestTimeout or a dropped
// connection is retried and the operation succeeds; a 403 is not retried.
func TestS3Retries(t *testing.T) {
	defer blob.SetRetryBase(time.Millisecond)()
	ctx := context.Background()
	srv := s3test.Start(t)
	rec := startRecorder(t, srv.Endpoint)
	s := openS3(t, srv, rec.URL, "retry", 0)
	rec.setHook(func(w http.ResponseWriter, r *http.Request, n int) bool {
		switch {
		case r.URL.Path == "/retry/slow" && r.Method == http.MethodPut && n == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, s3ErrorDoc("SlowDown", "Please reduce your request rate."))
			return true
		case r.URL.Path == "/retry/slow" && r.Method == http.MethodHead && n == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		case r.URL.Path == "/retry/slow" && r.Method == http.MethodGet && n == 1:
			c, _, _ := http.NewResponseController(w).Hijack()
			c.Close() // no answer at all
			return true
		case r.URL.Path == "/retry/timeout" && r.Method == http.MethodPut && n == 1:
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, s3ErrorDoc("RequestTimeout", "Your socket connection to the server was not read from or written to within the timeout period."))
			return true
		case r.URL.Path == "/retry/denied":
			w.WriteHeader(http.StatusForbidden)
			if r.Method != http.MethodHead {
				io.WriteString(w, s3ErrorDoc("AccessDenied", "Access Denied"))
			}
			return true
		}
		return false
	})
	if _, err := s.Put(ctx, "slow", strings.NewReader("content")); err != nil {
		t.Errorf("put after a 503 SlowDown: %v", err)
	}
	if b := readAll(t, s, "slow"); b != "content" {
		t.Errorf("read back %q", b)
	}
	if _, err := s.Put(ctx, "timeout", strings.NewReader("t")); err != nil {
		t.Errorf("put after a 400 RequestTimeout: %v", err)
	}
	for _, c := range []struct {
		method, path string
		want         int
	}{{"PUT", "/retry/slow", 2}, {"HEAD", "/retry/slow", 3}, {"GET", "/retry/slow", 2}, {"PUT", "/retry/timeout", 2}} {
		if n := rec.count(c.method, c.path); n != c.want {
			t.Errorf("%s %s: %d requests, want %d", c.method, c.path, n, c.want)
		}
	}

	if _, err := s.Stat(ctx, "denied"); err == nil || !strings.Contains(err.Error(), "refused the credentials") {
		t.Errorf("stat answered 403: got %v, want the credentials named", err)
	}
	if _, err := s.Put(ctx, "denied", strings.NewReader("x")); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("put answered 403: got %v, want AccessDenied", err)
	}
	if n, m := rec.count("HEAD", "/retry/denied"), rec.count("PUT", "/retry/denied"); n != 1 || m != 1 {
		t.Errorf("a 403 was sent %d (HEAD) and %d (PUT) times, want once each", n, m)
	}
}

// TestS3RegionMismatch: a bucket in another region is an error at start
// that names the region to set, and the redirect is not followed.
func TestS3RegionMismatch(t *testing.T) {
	var followed atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Add(1) }))
	defer elsewhere.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amz-Bucket-Region", "eu-west-1")
		w.Header().Set("Location", elsewhere.URL+r.URL.Path)
		w.WriteHeader(http.StatusMovedPermanently)
		if r.Method != http.MethodHead {
			io.WriteString(w, s3ErrorDoc("PermanentRedirect", "The bucket you are attempting to access must be addressed using the specified endpoint."))
		}
	}))
	defer redirect.Close()
	// AWS's answer to a request signed for the wrong region: 400 with the
	// region in the body (the bucket's HEAD succeeds here).
	malformed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-central-1'</Message><Region>eu-central-1</Region></Error>`)
	}))
	defer malformed.Close()
	for _, c := range []struct{ endpoint, want string }{
		{redirect.URL, "the server says the bucket is in region eu-west-1, not us-east-1: set region=eu-west-1"},
		{malformed.URL, "the server says the bucket is in region eu-central-1, not us-east-1: set region=eu-central-1"},
	} {
		_, err := blob.OpenS3(context.Background(), blob.S3Config{Endpoint: c.endpoint, Bucket: "far-away", Region: "us-east-1",
			AccessKeyID: "id", SecretAccessKey: "secret"})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error containing %q", err, c.want)
		}
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
	// versitygw (region us-east-1) answers a HEAD signed for another region
	// with a bare 400; the reason comes from the same question as a GET.
	srv := s3test.Start(t)
	_, err := blob.Open(context.Background(), blob.Options{URL: srv.URL("elsewhere") + "&region=eu-west-1",
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey})
	if want := "the server says the bucket is in region us-east-1, not eu-west-1: set region=us-east-1"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("versitygw, region=eu-west-1: got %v, want an error containing %q", err, want)
	}
}

// TestS3Multipart: objects over PartSize are multipart uploads that read
// back byte-identical (also when the stream ends at a part's end); one
// part's worth is a single PutObject; reads seek and range across parts;
// a reader failing mid-upload leaves no object (an earlier one stays) and
// no upload in progress.
func TestS3Multipart(t *testing.T) {
	ctx := context.Background()
	const part = 5 << 20 // S3's (and versitygw's) smallest part but the last
	srv := s3test.Start(t)
	rec := startRecorder(t, srv.Endpoint)
	s := openS3(t, srv, rec.URL, "multi", part)
	for _, c := range []struct {
		size  int
		parts int // 0: a single PutObject
	}{{0, 0}, {part, 0}, {2 * part, 2}, {2*part + 123, 3}} {
		key := fmt.Sprintf("obj-%d", c.size)
		data, _ := io.ReadAll(&pattern{n: int64(c.size)})
		info, err := s.Put(ctx, key, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != int64(c.size) || info.SHA256 != sum(data) || time.Since(info.Modified) > time.Hour {
			t.Errorf("%s: got %+v", key, info)
		}
		if got := readAll(t, s, key); got != string(data) {
			t.Errorf("%s: read back %d bytes, not what was stored", key, len(got))
		}
		if n, m := rec.count("POST", "/multi/"+key, "uploads="), rec.count("PUT", "/multi/"+key, "partNumber="); n != min(c.parts, 1) || m != c.parts {
			t.Errorf("%s: %d multipart uploads of %d parts, want %d parts", key, n, m, c.parts)
		}
		if n, m := rec.count("POST", "/multi/"+key, "uploads=", "algorithm=CRC32C"), rec.count("PUT", "/multi/"+key, "crc32c="); n != min(c.parts, 1) || m != max(c.parts, 1) {
			t.Errorf("%s: %d uploads declaring CRC32C, %d PUTs carrying one", key, n, m)
		}
		if c.parts != 3 {
			continue
		}
		o, err := s.Open(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		p := make([]byte, 10)
		if _, err := o.Seek(part-3, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(o, p); err != nil || !bytes.Equal(p, data[part-3:part+7]) {
			t.Errorf("read across a part's end after Seek: %v, %v", p, err)
		}
		if n, err := o.ReadAt(p, int64(c.size-4)); n != 4 || err != io.EOF || !bytes.Equal(p[:4], data[c.size-4:]) {
			t.Errorf("ReadAt over the end: %d, %v", n, err)
		}
		if n, err := o.ReadAt(p, int64(c.size)); n != 0 || err != io.EOF {
			t.Errorf("ReadAt at the end: %d, %v", n, err)
		}
		if n := rec.count("GET", "/multi/"+key); n != 3 {
			t.Errorf("GET requests: %d, want 3 (read back, after Seek, one ReadAt; none at the end)", n)
		}
		o.Close()
	}

	if _, err := s.Put(ctx, "failing", strings.NewReader("stored before")); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"failing", "failing-new"} {
		data, _ := io.ReadAll(&pattern{n: 7 << 20})
		r := io.MultiReader(bytes.NewReader(data), iotest.ErrReader(errors.New("the producer failed")))
		if _, err := s.Put(ctx, key, r); err == nil || !strings.Contains(err.Error(), "the producer failed") {
			t.Errorf("%s: got %v, want the reader's error", key, err)
		}
		if rec.count("DELETE", "/multi/"+key, "uploadId=") != 1 {
			t.Errorf("%s: the upload was not aborted", key)
		}
	}
	if b := readAll(t, s, "failing"); b != "stored before" {
		t.Errorf("after a failed upload the object reads %q, want the earlier one", b)
	}
	if _, err := s.Stat(ctx, "failing-new"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after a failed upload: %v, want no object", err)
	}
	if ups, err := s.UploadsInProgress(ctx); err != nil || len(ups) != 0 {
		t.Errorf("uploads in progress: %v, %v; want none", ups, err)
	}
}

// TestS3Keys: keys with characters that are encoded in the signed path
// and in the list query are stored, listed, read and deleted as given.
func TestS3Keys(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	s := openS3(t, srv, srv.Endpoint, "keys", 0)
	keys := []string{"a b/c+d", "é/ü=1&x", "p%41th/$dollar'quote(1)", "semi;colon/tilde~!*,@"}
	for _, k := range keys {
		if _, err := s.Put(ctx, "sp ace/"+k, strings.NewReader(k)); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
		if got := readAll(t, s, "sp ace/"+k); got != k {
			t.Errorf("%q reads %q", k, got)
		}
	}
	l, err := s.List(ctx, "sp ace/")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range l {
		got = append(got, strings.TrimPrefix(i.Key, "sp ace/"))
	}
	sort.Strings(keys)
	if strings.Join(got, "|") != strings.Join(keys, "|") {
		t.Errorf("list: got %q, want %q", got, keys)
	}
	for _, k := range keys {
		if err := s.Delete(ctx, "sp ace/"+k); err != nil {
			t.Errorf("delete %q: %v", k, err)
		}
	}
	if l, err := s.List(ctx, ""); err != nil || len(l) != 0 {
		t.Errorf("after deleting: %v, %v", l, err)
	}
}

func readAll(t *testing.T, s blob.Store, key string) string {
	t.Helper()
	o, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fakeS3 answers enough of S3 for OpenS3 and the operations, each answer
// replaceable (op: "list", "uploads", "complete", "stat", …).
type fakeS3 struct {
	mu      sync.Mutex
	answers map[string]fakeAnswer
	sizes   map[string]int
	parts   map[string]int
}

type fakeAnswer struct {
	status int
	body   string
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, _ := io.Copy(io.Discard, r.Body)
	q := r.URL.Query()
	var op string
	switch {
	case q.Has("list-type"):
		op = "list"
	case q.Has("uploads"):
		op = "uploads"
	case q.Has("partNumber"):
		op = "part"
	case q.Has("uploadId") && r.Method == http.MethodPost:
		op = "complete"
	case q.Has("uploadId"):
		op = "abort"
	case strings.Count(r.URL.Path, "/") == 1:
		op = "bucket"
	case r.Method == http.MethodPut:
		op = "put"
	case r.Method == http.MethodHead:
		op = "stat"
	case r.Method == http.MethodGet:
		op = "get"
	default:
		op = "delete"
	}
	f.mu.Lock()
	a, ok := f.answers[op]
	switch {
	case ok:
	case op == "put":
		f.sizes[r.URL.Path] = int(n)
	case op == "uploads":
		f.parts[r.URL.Path] = 0
	case op == "part":
		f.parts[r.URL.Path] += int(n)
	case op == "complete":
		f.sizes[r.URL.Path], f.parts[r.URL.Path] = f.parts[r.URL.Path], 0
	}
	size := f.sizes[r.URL.Path]
	f.mu.Unlock()
	if ok {
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
		return
	}
	switch op {
	case "stat":
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
	case "list":
		io.WriteString(w, `<ListBucketResult></ListBucketResult>`)
	case "uploads":
		io.WriteString(w, `<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>`)
	case "part":
		w.Header().Set("ETag", `"e"`)
	case "complete":
		io.WriteString(w, `<CompleteMultipartUploadResult><Key>k</Key></CompleteMultipartUploadResult>`)
	case "delete", "abort":
		w.WriteHeader(http.StatusNoContent)
	}
}

func (f *fakeS3) answer(op string, a fakeAnswer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a.status == 0 {
		delete(f.answers, op)
	} else {
		f.answers[op] = a
	}
}

var garbage = []string{
	"", "not xml at all", "\x00\xff\xfe<", "<", "<ListBucketResult><Contents><Key>a",
	`<?xml version="1.0"?><Other/>`, "<Error>", "<Error><Code>Nope</Code>",
	`<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>`,
	`<ListBucketResult><Contents><Size>many</Size></Contents></ListBucketResult>`,
	`<InitiateMultipartUploadResult><UploadId></UploadId></InitiateMultipartUploadResult>`,
	`<CompleteMultipartUploadResult>`, strings.Repeat("<a>", 10000),
	`<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>`,
}

// TestS3MalformedAnswers: whatever a server answers, the operations
// return an error, never panic.
func TestS3MalformedAnswers(t *testing.T) {
	defer blob.SetRetryBase(time.Millisecond)()
	ctx := context.Background()
	f := &fakeS3{answers: map[string]fakeAnswer{}, sizes: map[string]int{}, parts: map[string]int{}}
	ts := httptest.NewServer(f)
	defer ts.Close()
	s, err := blob.OpenS3(ctx, blob.S3Config{Endpoint: ts.URL, Bucket: "fake", AccessKeyID: "id", SecretAccessKey: "secret", PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 6<<20)
	for _, g := range garbage {
		for _, c := range []struct {
			op     string
			status int
			run    func() error
		}{
			{"list", 200, func() error { _, err := s.List(ctx, ""); return err }},
			{"uploads", 200, func() error { _, err := s.Put(ctx, "big", bytes.NewReader(big)); return err }},
			{"complete", 200, func() error { _, err := s.Put(ctx, "big", bytes.NewReader(big)); return err }},
			{"put", 500, func() error { _, err := s.Put(ctx, "small", strings.NewReader("x")); return err }},
			{"stat", 403, func() error { _, err := s.Stat(ctx, "small"); return err }},
		} {
			f.answer(c.op, fakeAnswer{c.status, g})
			err := c.run()
			f.answer(c.op, fakeAnswer{})
			if err == nil {
				t.Errorf("%s answered %d %q: got nil, want an error", c.op, c.status, g)
			}
		}
	}
	// A range answered with the whole object, or with too few bytes.
	if _, err := s.Put(ctx, "two", strings.NewReader("ab")); err != nil {
		t.Fatal(err)
	}
	o, err := s.Open(ctx, "two")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	for _, a := range []fakeAnswer{{200, "ab"}, {206, ""}, {206, "abc"}} {
		f.answer("get", a)
		if _, err := o.ReadAt(make([]byte, 1), 1); err == nil {
			t.Errorf("a range of 1 byte answered %d %q: got nil, want an error", a.status, a.body)
		}
	}
	f.answer("get", fakeAnswer{})
	// The fake works when it does not misbehave.
	if _, err := s.Put(ctx, "big", bytes.NewReader(big)); err != nil {
		t.Errorf("a well-formed multipart exchange: %v", err)
	}
	if _, err := s.List(ctx, ""); err != nil {
		t.Errorf("a well-formed list: %v", err)
	}
}

// FuzzS3Answers: any list, upload-start or error body gives a result or
// an error, never a panic (go test runs the seeds; go test -fuzz explores).
func FuzzS3Answers(f *testing.F) {
	for _, g := range garbage {
		f.Add(200, g)
		f.Add(503, g)
	}
	restore := blob.SetRetryBase(time.Microsecond)
	f.Cleanup(restore)
	fake := &fakeS3{answers: map[string]fakeAnswer{}, sizes: map[string]int{}, parts: map[string]int{}}
	ts := httptest.NewServer(fake)
	f.Cleanup(ts.Close)
	s, err := blob.OpenS3(context.Background(), blob.S3Config{Endpoint: ts.URL, Bucket: "fake", AccessKeyID: "id", SecretAccessKey: "secret"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 200 || status > 599 {
			return
		}
		fake.answer("list", fakeAnswer{status, body})
		fake.answer("stat", fakeAnswer{status, body})
		defer fake.answer("list", fakeAnswer{})
		defer fake.answer("stat", fakeAnswer{})
		s.List(context.Background(), "")
		s.Stat(context.Background(), "k")
	})
}

// TestS3CompletionAnswerLost: the answer to CompleteMultipartUpload is
// lost (the connection drops after versitygw completed the upload), the
// client sends it again and gets NoSuchUpload (as S3 may answer once the
// upload is gone; versitygw itself repeats the success); the object there
// has the ETag these parts make, so Put succeeds. Where NoSuchUpload comes with
// another object at the key (same size, other content), Put fails and
// leaves that object alone.
func TestS3CompletionAnswerLost(t *testing.T) {
	defer blob.SetRetryBase(time.Millisecond)()
	ctx := context.Background()
	const part = 5 << 20
	srv := s3test.Start(t)
	rec := startRecorder(t, srv.Endpoint)
	s := openS3(t, srv, rec.URL, "lost", part)
	var completes atomic.Int32
	rec.setHook(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.Method != http.MethodPost || !r.URL.Query().Has("uploadId") {
			return false
		}
		switch completes.Add(1) {
		case 1:
			rec.forward(httptest.NewRecorder(), r) // versitygw completes it…
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close() // …and the answer never arrives
			return true
		case 2:
			// versitygw answers a repeated completion with success; S3 may
			// answer NoSuchUpload once the upload is gone.
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, s3ErrorDoc("NoSuchUpload", "The specified upload does not exist."))
			return true
		}
		return false
	})
	data, _ := io.ReadAll(&pattern{n: 2*part + 5})
	if _, err := s.Put(ctx, "obj", bytes.NewReader(data)); err != nil {
		t.Fatalf("put whose completion's answer was lost: %v", err)
	}
	if got := readAll(t, s, "obj"); got != string(data) {
		t.Error("the object does not read back as stored")
	}
	if n := rec.count("POST", "/lost/obj", "uploadId="); n != 2 {
		t.Errorf("completions sent: %d, want 2 (the lost one and its retry)", n)
	}

	old := bytes.Repeat([]byte("o"), 2*part+5)
	rec.setHook(nil)
	if _, err := s.Put(ctx, "other", bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	rec.setHook(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.Method == http.MethodPost && r.URL.Path == "/lost/other" && r.URL.Query().Has("uploadId") {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, s3ErrorDoc("NoSuchUpload", "The specified upload does not exist."))
			return true
		}
		return false
	})
	if _, err := s.Put(ctx, "other", bytes.NewReader(data)); err == nil || !strings.Contains(err.Error(), "NoSuchUpload") {
		t.Errorf("NoSuchUpload with another object at the key: got %v, want the error", err)
	}
	if got := readAll(t, s, "other"); got != string(old) {
		t.Error("the object already at the key was changed")
	}
}
