package blob

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// S3Config says where an S3-compatible bucket is and how to sign requests.
type S3Config struct {
	// Endpoint is the server's base URL (http://127.0.0.1:9000); empty is
	// AWS (https://s3.amazonaws.com).
	Endpoint string
	Bucket   string
	// Prefix is prepended to every key ("ci/"), so that one bucket can hold
	// several installations.
	Prefix string
	Region string
	// AccessKeyID and SecretAccessKey sign requests; both empty falls back
	// to the standard AWS environment (AWS_ACCESS_KEY_ID, …).
	AccessKeyID, SecretAccessKey string
	// PartSize is the multipart upload's part size, the most memory one
	// upload holds (0: 16 MiB; S3 allows 10,000 parts, so objects up to
	// 160 GiB).
	PartSize uint64
	// Getenv reads the standard AWS environment (os.Getenv in production).
	Getenv func(string) string
}

// S3 is a Store in an S3-compatible bucket (AWS S3, MinIO, versitygw,
// SeaweedFS …): what several hosts share.
//
// The client is this package's own (s3client.go, s3sign.go): Signature
// Version 4 with the body's SHA-256 signed on every request, and a CRC32C
// (x-amz-checksum-crc32c) on every upload, both checked by the server;
// path-style addressing for a configured endpoint, virtual-hosted for AWS.
type S3 struct {
	c      *s3Client
	prefix string
	region string
	part   int
	where  string
}

const defaultPartSize = 16 << 20

// OpenS3 connects to the bucket, creates it when it is missing, and checks
// that an object can be written, read and deleted there, so that a setting
// that cannot work fails at start with the reason.
func OpenS3(ctx context.Context, cfg S3Config) (*S3, error) {
	s, err := newS3(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// newS3 checks cfg and makes the client, without asking the server.
func newS3(cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3 store: no bucket named (want s3://bucket?endpoint=…)")
	}
	if err := checkBucketName(cfg.Bucket); err != nil {
		return nil, err
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "https://s3.amazonaws.com"
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("s3 store: endpoint %q: want http(s)://host[:port]", endpoint)
	}
	sg, err := s3Credentials(cfg)
	if err != nil {
		return nil, err
	}
	region := cmpOr(cfg.Region, "us-east-1")
	sg.region = region
	// A configured endpoint is addressed path-style: self-hosted servers
	// rarely have per-bucket DNS names.
	c := &s3Client{scheme: u.Scheme, host: u.Host, bucket: cfg.Bucket, sign: sg, now: time.Now}
	if cfg.Endpoint == "" {
		// AWS: the regional endpoint, and the bucket in the host name when
		// it can be one (no dots: the certificate covers one label).
		if region != "us-east-1" {
			c.host = "s3." + region + ".amazonaws.com"
		}
		c.virtual = dnsBucketName(cfg.Bucket)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone() // proxy from the environment
	tr.DisableCompression = true                          // the bytes as stored, and their length
	c.hc = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		// A 301 names the bucket's region: explained, not followed.
		return http.ErrUseLastResponse
	}}
	s := &S3{c: c, prefix: strings.TrimLeft(cfg.Prefix, "/"), region: region, part: int(cfg.PartSize),
		where: fmt.Sprintf("s3 bucket %s at %s", cfg.Bucket, u.Host)}
	if s.part <= 0 {
		s.part = defaultPartSize
	}
	if s.prefix != "" && !strings.HasSuffix(s.prefix, "/") {
		s.prefix += "/"
	}
	return s, nil
}

func s3Credentials(cfg S3Config) (signer, error) {
	if cfg.AccessKeyID != "" || cfg.SecretAccessKey != "" {
		if cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
			return signer{}, errors.New("s3 store: set both the access key id and the secret access key (HOOKCI_S3_ACCESS_KEY_ID, HOOKCI_S3_SECRET_ACCESS_KEY)")
		}
		return signer{id: cfg.AccessKeyID, secret: cfg.SecretAccessKey}, nil
	}
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	id := cmpOr(getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_ACCESS_KEY"))
	secret := cmpOr(getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SECRET_KEY"))
	if id == "" || secret == "" {
		return signer{}, errors.New("s3 store: no credentials: set HOOKCI_S3_ACCESS_KEY_ID and HOOKCI_S3_SECRET_ACCESS_KEY ([blobs] access_key_id, secret_access_key) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	return signer{id: id, secret: secret, token: getenv("AWS_SESSION_TOKEN")}, nil
}

// checkBucketName refuses names no S3 server accepts: 3 to 63 characters,
// letters, digits, '.', '-' (and '_', which some servers allow), starting
// and ending with a letter or digit, no "..".
func checkBucketName(b string) error {
	ok := len(b) >= 3 && len(b) <= 63 && alnum(b[0]) && alnum(b[len(b)-1]) && !strings.Contains(b, "..")
	for i := 0; ok && i < len(b); i++ {
		ok = alnum(b[i]) || b[i] == '.' || b[i] == '-' || b[i] == '_'
	}
	if !ok {
		return fmt.Errorf("s3 store: bucket name %q is not valid: want 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit", b)
	}
	return nil
}

// dnsBucketName says whether b can be the first label of a host name
// (AWS's rules, and no dots).
func dnsBucketName(b string) bool {
	if len(b) < 3 || len(b) > 63 || b[0] == '-' || b[len(b)-1] == '-' {
		return false
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func alnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// startTimeout bounds the checks at start, so that an unreachable endpoint
// is an error rather than a hang.
const startTimeout = 20 * time.Second

func (s *S3) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	resp, err := s.c.do(ctx, &s3Request{method: http.MethodHead})
	var se *s3Error
	switch {
	case err == nil:
		resp.Body.Close()
	case errors.As(err, &se) && se.Status == http.StatusNotFound && se.Region == "":
		if err := s.createBucket(ctx); err != nil {
			return s.explain("the bucket does not exist and creating it failed", err)
		}
	default:
		return s.explain("checking the bucket", s.headDetail(ctx, err))
	}
	probe := ".hookci-probe-" + fmt.Sprint(time.Now().UnixNano())
	if _, err := s.Put(ctx, probe, strings.NewReader("probe")); err != nil {
		return fmt.Errorf("s3 store: writing a test object: %w", err)
	}
	if err := s.Delete(ctx, probe); err != nil {
		return fmt.Errorf("s3 store: deleting a test object: %w", err)
	}
	return nil
}

// headDetail: an answer to HEAD has no body, so a 4xx other than 404 says
// no more than its status; the same question as a GET (GetBucketLocation)
// brings the server's error document (code, message, region), which is
// returned instead when there is one.
func (s *S3) headDetail(ctx context.Context, err error) error {
	var se *s3Error
	if !errors.As(err, &se) || se.Code != "" || se.Status/100 != 4 || se.Status == http.StatusNotFound {
		return err
	}
	resp, gerr := s.c.do(ctx, &s3Request{method: http.MethodGet, query: url.Values{"location": {""}}})
	if gerr == nil {
		resp.Body.Close()
		return err
	}
	var ge *s3Error
	if errors.As(gerr, &ge) && ge.Code != "" {
		ge.Region = cmpOr(ge.Region, se.Region)
		return ge
	}
	return err
}

// createBucket makes the bucket (CreateBucket), in the configured region.
func (s *S3) createBucket(ctx context.Context) error {
	r := &s3Request{method: http.MethodPut}
	if s.region != "us-east-1" {
		var doc struct {
			XMLName            xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CreateBucketConfiguration"`
			LocationConstraint string
		}
		doc.LocationConstraint = s.region
		r.body, _ = xml.Marshal(doc)
		r.header = http.Header{"Content-Type": {"application/xml"}}
	}
	resp, err := s.c.do(ctx, r)
	var se *s3Error
	if errors.As(err, &se) && se.Code == "BucketAlreadyOwnedByYou" {
		return nil // another host made it meanwhile
	}
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// explain turns an S3 error into a message that says what to fix.
func (s *S3) explain(what string, err error) error {
	var se *s3Error
	if errors.As(err, &se) {
		switch {
		case se.Region != "" && se.Region != s.region && (se.Status == http.StatusMovedPermanently || se.Status == http.StatusBadRequest ||
			se.Status == http.StatusForbidden || se.Code == "PermanentRedirect" || se.Code == "AuthorizationHeaderMalformed"):
			return fmt.Errorf("s3 store (%s): %s: the server says the bucket is in region %s, not %s: set region=%s (the region parameter of HOOKCI_BLOB_URL, or HOOKCI_S3_REGION): %w",
				s.where, what, se.Region, s.region, se.Region, err)
		case se.Code == "InvalidAccessKeyId" || se.Code == "XAdminUserNotFound" || se.Code == "SignatureDoesNotMatch" || se.Code == "AccessDenied" ||
			se.Status == http.StatusForbidden || se.Status == http.StatusUnauthorized:
			return fmt.Errorf("s3 store (%s): %s: the server refused the credentials (%s): check HOOKCI_S3_ACCESS_KEY_ID/HOOKCI_S3_SECRET_ACCESS_KEY: %w", s.where, what, cmpOr(se.Code, http.StatusText(se.Status)), err)
		case se.Status == http.StatusMovedPermanently || se.Code == "PermanentRedirect":
			return fmt.Errorf("s3 store (%s): %s: the server redirects the request elsewhere (another region or endpoint; set region= or endpoint=): %w", s.where, what, err)
		}
		return fmt.Errorf("s3 store (%s): %s: %w", s.where, what, err)
	}
	if unreachable(err) {
		return fmt.Errorf("s3 store (%s): %s: cannot reach the endpoint: %w", s.where, what, err)
	}
	return fmt.Errorf("s3 store (%s): %s: %w", s.where, what, err)
}

// castagnoli is made on first use, not at start (every hookci process
// starts; few upload).
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// crc32c is the x-amz-checksum-crc32c of b: base64 of its big-endian
// CRC32C.
func crc32c(b []byte) string {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.Checksum(b, castagnoli()))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Put streams r to the bucket and checks that the server stored as many
// bytes as were read. What fits in one part (PartSize) is one PutObject;
// more is a multipart upload, one part in memory at a time, aborted on any
// failure. Every request signs the SHA-256 of its body and every upload
// carries its CRC32C; the server checks both.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (Info, error) {
	if err := CheckKey(key); err != nil {
		return Info{}, err
	}
	full := s.prefix + key
	c := newCounter(r)
	buf, ended, err := fill(c, make([]byte, 0, min(s.part, 64<<10)), s.part)
	if err != nil {
		return Info{}, fmt.Errorf("s3 store (%s): storing %s: %w", s.where, key, err)
	}
	var carry []byte
	if !ended {
		// A full part: one more byte says whether there is a second.
		var one [1]byte
		n, err := io.ReadFull(c, one[:])
		switch {
		case err == io.EOF:
			ended = true
		case err != nil:
			return Info{}, fmt.Errorf("s3 store (%s): storing %s: %w", s.where, key, err)
		default:
			carry = one[:n]
		}
	}
	if ended {
		resp, err := s.c.do(ctx, &s3Request{method: http.MethodPut, key: full, body: buf, header: http.Header{
			"Content-Type": {"application/octet-stream"}, "X-Amz-Checksum-Crc32c": {crc32c(buf)},
		}})
		if err != nil {
			return Info{}, s.explain("storing "+key, err)
		}
		resp.Body.Close()
	} else if err := s.multipart(ctx, key, c, buf, carry); err != nil {
		return Info{}, err
	}
	st, err := s.Stat(ctx, key)
	if err != nil {
		return Info{}, fmt.Errorf("s3 store (%s): storing %s: checking what was stored: %w", s.where, key, err)
	}
	if st.Size != c.n {
		return Info{}, fmt.Errorf("s3 store (%s): storing %s: the server stored %d bytes, %d were sent", s.where, key, st.Size, c.n)
	}
	return Info{Key: key, Size: c.n, Modified: st.Modified, SHA256: c.sum()}, nil
}

// fill appends what r yields to buf until it holds max bytes or r ends
// (ended). buf grows as needed, never beyond max: by doubling while small
// (a small object takes little), then straight to max (growing holds the
// old buffer and the new one at once: at most max + 1 MiB).
func fill(r io.Reader, buf []byte, max int) (_ []byte, ended bool, _ error) {
	for len(buf) < max {
		if len(buf) == cap(buf) {
			c := 2*cap(buf) + 64<<10
			if c > 1<<20 {
				c = max
			}
			nb := make([]byte, len(buf), min(max, c))
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, true, nil
		}
		if err != nil {
			return buf, false, err
		}
	}
	return buf, false, nil
}

// completedPart is one <Part> of CompleteMultipartUpload.
type completedPart struct {
	PartNumber     int
	ETag           string
	ChecksumCRC32C string
}

// multipart uploads first (a full part), then carry and the rest of r, a
// part at a time in the same buffer, and completes the upload; on any
// failure it aborts it, so that nothing is left.
func (s *S3) multipart(ctx context.Context, key string, r io.Reader, buf, carry []byte) (err error) {
	full := s.prefix + key
	resp, err := s.c.do(ctx, &s3Request{method: http.MethodPost, key: full, query: url.Values{"uploads": {""}}, header: http.Header{
		"Content-Type": {"application/octet-stream"}, "X-Amz-Checksum-Algorithm": {"CRC32C"},
	}})
	if err != nil {
		return s.explain("storing "+key+": starting a multipart upload", err)
	}
	var started struct{ UploadId string }
	if err := readXML(resp, "InitiateMultipartUploadResult", &started); err != nil {
		return s.explain("storing "+key+": starting a multipart upload", err)
	}
	if started.UploadId == "" {
		return fmt.Errorf("s3 store (%s): storing %s: the server started a multipart upload without an upload id", s.where, key)
	}
	id := started.UploadId
	defer func() {
		if err != nil {
			// Not the caller's context: a cancelled Put must still abort.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
			defer cancel()
			if resp, aerr := s.c.do(actx, &s3Request{method: http.MethodDelete, key: full, query: url.Values{"uploadId": {id}}}); aerr == nil {
				resp.Body.Close()
			} else {
				err = fmt.Errorf("%w (aborting the upload failed too: %v)", err, aerr)
			}
		}
	}()
	var parts []completedPart
	for num := 1; ; num++ {
		last := false
		if num > 1 {
			buf, last, err = fill(r, append(buf[:0], carry...), s.part)
			carry = nil
			if err != nil {
				return fmt.Errorf("s3 store (%s): storing %s: %w", s.where, key, err)
			}
			if len(buf) == 0 {
				break // r ended at a part's end
			}
		}
		if num > 10000 {
			return fmt.Errorf("s3 store (%s): storing %s: more than 10,000 parts of %d bytes", s.where, key, s.part)
		}
		sum := crc32c(buf)
		resp, err := s.c.do(ctx, &s3Request{method: http.MethodPut, key: full, body: buf,
			query:  url.Values{"partNumber": {strconv.Itoa(num)}, "uploadId": {id}},
			header: http.Header{"X-Amz-Checksum-Crc32c": {sum}}})
		if err != nil {
			return s.explain(fmt.Sprintf("storing %s: part %d", key, num), err)
		}
		resp.Body.Close()
		etag := resp.Header.Get("ETag")
		if etag == "" {
			return fmt.Errorf("s3 store (%s): storing %s: the server gave part %d no ETag", s.where, key, num)
		}
		parts = append(parts, completedPart{PartNumber: num, ETag: etag, ChecksumCRC32C: sum})
		if last {
			break
		}
	}
	var doc struct {
		XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUpload"`
		Part    []completedPart
	}
	doc.Part = parts
	body, err := xml.Marshal(doc)
	if err != nil {
		return err
	}
	resp, err = s.c.do(ctx, &s3Request{method: http.MethodPost, key: full, query: url.Values{"uploadId": {id}}, body: body,
		header: http.Header{"Content-Type": {"application/xml"}}, errorIn200: true})
	if err != nil {
		var e *s3Error
		if errors.As(err, &e) && e.Code == "NoSuchUpload" && s.completedAs(ctx, full, parts) {
			// A completion whose answer was lost and was sent again: the
			// first one made the object (its ETag is these parts').
			return nil
		}
		return s.explain("storing "+key+": completing the multipart upload", err)
	}
	// S3 may answer 200 and then fail: only a whole result document is a
	// success (an <Error> one is an *s3Error from do).
	var done struct{ Key string }
	if err := readXML(resp, "CompleteMultipartUploadResult", &done); err != nil {
		return s.explain("storing "+key+": completing the multipart upload", err)
	}
	return nil
}

// completedAs says whether the object at full is the one these parts make:
// its ETag is S3's multipart ETag of them, the MD5 of the parts' MD5s and
// "-<count>". A server whose part ETags are not MD5s (AWS with SSE-KMS)
// never matches, and the completion's error stands.
func (s *S3) completedAs(ctx context.Context, full string, parts []completedPart) bool {
	h := md5.New()
	for _, p := range parts {
		b, err := hex.DecodeString(strings.Trim(p.ETag, `"`))
		if err != nil || len(b) != md5.Size {
			return false
		}
		h.Write(b)
	}
	want := fmt.Sprintf("%x-%d", h.Sum(nil), len(parts))
	resp, err := s.c.do(ctx, &s3Request{method: http.MethodHead, key: full})
	if err != nil {
		return false
	}
	resp.Body.Close()
	return strings.Trim(resp.Header.Get("ETag"), `"`) == want
}

// s3Object reads an object: Read streams one GET from the current offset
// (opened on first use, closed by Seek), ReadAt sends a ranged GET.
type s3Object struct {
	s      *S3
	ctx    context.Context
	key    string
	size   int64
	off    int64
	body   io.ReadCloser
	closed bool
}

func (o *s3Object) Size() int64 { return o.size }

func (o *s3Object) Read(p []byte) (int, error) {
	if o.closed {
		return 0, errObjectClosed
	}
	if o.off >= o.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if o.body == nil {
		r := &s3Request{method: http.MethodGet, key: o.s.prefix + o.key}
		if o.off > 0 {
			r.header = http.Header{"Range": {fmt.Sprintf("bytes=%d-", o.off)}}
		}
		resp, err := o.s.c.do(o.ctx, r)
		if err != nil {
			return 0, o.s.explain("reading "+o.key, err)
		}
		if want := o.size - o.off; resp.ContentLength >= 0 && resp.ContentLength != want {
			resp.Body.Close()
			return 0, fmt.Errorf("s3 store (%s): reading %s: the server sent %d bytes from offset %d, want %d (the object changed?)", o.s.where, o.key, resp.ContentLength, o.off, want)
		}
		if o.off > 0 && resp.StatusCode != http.StatusPartialContent {
			resp.Body.Close()
			return 0, fmt.Errorf("s3 store (%s): reading %s: the server answered a range request with %s", o.s.where, o.key, resp.Status)
		}
		o.body = resp.Body
	}
	if max := o.size - o.off; int64(len(p)) > max {
		p = p[:max]
	}
	n, err := o.body.Read(p)
	o.off += int64(n)
	if err == io.EOF {
		o.body.Close()
		o.body = nil
		if o.off < o.size {
			return n, io.ErrUnexpectedEOF
		}
	}
	return n, err
}

var errObjectClosed = errors.New("blob: read of a closed object")

func (o *s3Object) Seek(offset int64, whence int) (int64, error) {
	if o.closed {
		return 0, errObjectClosed
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += o.off
	case io.SeekEnd:
		offset += o.size
	default:
		return 0, errors.New("blob: Seek: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("blob: Seek: negative position")
	}
	if offset != o.off && o.body != nil {
		o.body.Close()
		o.body = nil
	}
	o.off = offset
	return offset, nil
}

// ReadAt reads len(p) bytes at off with one ranged GET (safe for parallel
// calls: it shares nothing with Read).
func (o *s3Object) ReadAt(p []byte, off int64) (int, error) {
	if o.closed {
		return 0, errObjectClosed
	}
	if off < 0 {
		return 0, errors.New("blob: ReadAt: negative offset")
	}
	if off >= o.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	want := min(int64(len(p)), o.size-off)
	resp, err := o.s.c.do(o.ctx, &s3Request{method: http.MethodGet, key: o.s.prefix + o.key,
		header: http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", off, off+want-1)}}})
	if err != nil {
		return 0, o.s.explain("reading "+o.key, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent && !(resp.StatusCode == http.StatusOK && off == 0 && want == o.size) {
		return 0, fmt.Errorf("s3 store (%s): reading %s: the server answered a range request with %s", o.s.where, o.key, resp.Status)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != want {
		return 0, fmt.Errorf("s3 store (%s): reading %s: the server sent %d bytes for a range of %d", o.s.where, o.key, resp.ContentLength, want)
	}
	n, err := io.ReadFull(resp.Body, p[:want])
	if err != nil {
		return n, fmt.Errorf("s3 store (%s): reading %s at %d: %w", o.s.where, o.key, off, err)
	}
	if want < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

func (o *s3Object) Close() error {
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
	o.closed = true
	return nil
}

// Open reads the object (range requests for ReadAt and after Seek).
func (s *S3) Open(ctx context.Context, key string) (Object, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	return &s3Object{s: s, ctx: ctx, key: key, size: info.Size}, nil
}

// Stat asks the server about key (HeadObject).
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := CheckKey(key); err != nil {
		return Info{}, err
	}
	resp, err := s.c.do(ctx, &s3Request{method: http.MethodHead, key: s.prefix + key})
	if err != nil {
		var se *s3Error
		if errors.As(err, &se) && (se.Code == "NoSuchKey" || se.Status == http.StatusNotFound) {
			return Info{}, notExist(key)
		}
		return Info{}, s.explain("reading "+key, err)
	}
	resp.Body.Close()
	if resp.ContentLength < 0 {
		return Info{}, fmt.Errorf("s3 store (%s): reading %s: the server gave no Content-Length", s.where, key)
	}
	modified, _ := http.ParseTime(resp.Header.Get("Last-Modified"))
	return Info{Key: key, Size: resp.ContentLength, Modified: modified}, nil
}

// List lists the keys under prefix (ListObjectsV2, every page).
func (s *S3) List(ctx context.Context, prefix string) ([]Info, error) {
	var out []Info
	token := ""
	for {
		q := url.Values{"list-type": {"2"}, "prefix": {s.prefix + prefix}, "encoding-type": {"url"}}
		if token != "" {
			q.Set("continuation-token", token)
		}
		if listPageSize > 0 {
			q.Set("max-keys", strconv.Itoa(listPageSize))
		}
		resp, err := s.c.do(ctx, &s3Request{method: http.MethodGet, query: q})
		if err != nil {
			return nil, s.explain("listing "+prefix, err)
		}
		var page struct {
			IsTruncated           bool
			NextContinuationToken string
			EncodingType          string
			Contents              []struct {
				Key          string
				LastModified string
				Size         int64
			}
		}
		if err := readXML(resp, "ListBucketResult", &page); err != nil {
			return nil, s.explain("listing "+prefix, err)
		}
		for _, o := range page.Contents {
			k := o.Key
			if page.EncodingType == "url" {
				// Only when the server says it encoded the keys (some
				// ignore encoding-type).
				if k, err = url.QueryUnescape(o.Key); err != nil {
					return nil, fmt.Errorf("s3 store (%s): listing %s: bad key %q: %w", s.where, prefix, o.Key, err)
				}
			}
			key := strings.TrimPrefix(k, s.prefix)
			if strings.HasPrefix(key, ".hookci-probe-") {
				continue
			}
			modified, _ := time.Parse(time.RFC3339Nano, o.LastModified)
			out = append(out, Info{Key: key, Size: o.Size, Modified: modified})
		}
		if !page.IsTruncated {
			break
		}
		if page.NextContinuationToken == "" || page.NextContinuationToken == token {
			return nil, fmt.Errorf("s3 store (%s): listing %s: the server said the list goes on but gave no new continuation token", s.where, prefix)
		}
		token = page.NextContinuationToken
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete removes key (DeleteObject); a missing key is not an error.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	resp, err := s.c.do(ctx, &s3Request{method: http.MethodDelete, key: s.prefix + key})
	if err != nil {
		var se *s3Error
		if errors.As(err, &se) && (se.Code == "NoSuchKey" || se.Status == http.StatusNotFound && se.Code == "") {
			return nil
		}
		return s.explain("deleting "+key, err)
	}
	resp.Body.Close()
	return nil
}

// String names the bucket and endpoint.
func (s *S3) String() string { return s.where }

// unreachable reports a failure to connect or to get an answer.
func unreachable(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne)
}
