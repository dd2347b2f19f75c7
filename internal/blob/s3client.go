package blob

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// s3Client sends signed requests about one bucket (S3 REST API) and turns
// error answers into *s3Error.
type s3Client struct {
	hc     *http.Client
	scheme string
	// host is the endpoint's host[:port]; with virtual-hosted addressing
	// the bucket's host is bucket + "." + host.
	host    string
	virtual bool
	bucket  string
	sign    signer
	now     func() time.Time
}

// Retries: a request is sent again after a network error, a 500, 502, 503
// or 504, or the S3 codes SlowDown, InternalError and RequestTimeout, at
// most maxRetries times, waiting retryBase, twice that, … (plus up to half
// again, at random) in between. Every body is a byte slice, so every request
// can be replayed. No 4xx other than those codes is retried.
const maxRetries = 3

var retryBase = 100 * time.Millisecond

// listPageSize is the max-keys of a ListObjectsV2 request (0: the server's
// default, 1,000 on AWS).
var listPageSize = 0

// maxErrorBody bounds what is read of an error answer; maxResultBody of
// an XML result (a list page of 1,000 keys of up to 1 KiB each, and their
// details, fits).
const (
	maxErrorBody  = 1 << 20
	maxResultBody = 32 << 20
)

// s3Request is one S3 operation.
type s3Request struct {
	method string
	// key is the object's full key; "" addresses the bucket.
	key    string
	query  url.Values
	header http.Header
	body   []byte
	// errorIn200 says the answer may be 200 OK with an <Error> document
	// (CompleteMultipartUpload): the body is read and checked.
	errorIn200 bool
}

// url is where r goes: path-style (scheme://host/bucket/key) or
// virtual-hosted (scheme://bucket.host/key). Path and query are encoded
// exactly as they are signed.
func (c *s3Client) url(r *s3Request) *url.URL {
	u := &url.URL{Scheme: c.scheme, Host: c.host}
	var p string
	if c.virtual {
		u.Host = c.bucket + "." + c.host
		p = "/" + r.key
	} else {
		p = "/" + c.bucket
		if r.key != "" {
			p += "/" + r.key
		}
	}
	u.Path = p
	u.RawPath = canonicalURI(p)
	u.RawQuery = canonicalQuery(r.query)
	return u
}

// do sends r, signed, retrying as described at maxRetries, and returns the
// answer when its status is 2xx; otherwise the error is an *s3Error (the
// server answered) or the transport's error (it did not). The caller closes
// the body.
func (c *s3Client) do(ctx context.Context, r *s3Request) (*http.Response, error) {
	payloadHash := emptySHA256
	if len(r.body) > 0 {
		payloadHash = hexSHA256(r.body)
	}
	u := c.url(r).String()
	for attempt := 0; ; attempt++ {
		resp, err := c.once(ctx, r, u, payloadHash)
		if err == nil {
			return resp, nil
		}
		if attempt >= maxRetries || !retryable(err) || ctx.Err() != nil {
			return nil, err
		}
		d := retryBase << attempt
		d += rand.N(d/2 + 1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

func (c *s3Client) once(ctx context.Context, r *s3Request, u, payloadHash string) (*http.Response, error) {
	var body *guardedBody
	var rb io.Reader
	if len(r.body) > 0 {
		body = &guardedBody{r: bytes.NewReader(r.body)}
		rb = body
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, rb)
	if err != nil {
		return nil, err
	}
	req.ContentLength = int64(len(r.body))
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	c.sign.sign(req, payloadHash, c.now())
	resp, err := c.hc.Do(req)
	if body != nil {
		// The transport may still hold the body; the caller reuses the
		// slice for the next part once this returns.
		body.Close()
	}
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 && !r.errorIn200 {
		return resp, nil
	}
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		if rerr != nil {
			return nil, rerr
		}
		if e := parseError(resp, b); e != nil {
			return nil, e
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		return resp, nil
	}
	e := parseError(resp, b)
	if e == nil {
		e = &s3Error{Status: resp.StatusCode}
	}
	e.Region = cmpOr(resp.Header.Get("X-Amz-Bucket-Region"), e.Region)
	return nil, e
}

// guardedBody is a request body that stops reading once closed, so that
// the slice under it can be reused as soon as the round trip returns.
type guardedBody struct {
	mu     sync.Mutex
	r      *bytes.Reader
	closed bool
}

func (b *guardedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errors.New("blob: request body read after its request ended")
	}
	return b.r.Read(p)
}

func (b *guardedBody) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// retryable says whether err is worth sending the request again for (not
// a certificate the client refused: that will not change).
func retryable(err error) bool {
	var e *s3Error
	if errors.As(err, &e) {
		switch e.Code {
		case "SlowDown", "InternalError", "RequestTimeout":
			return true
		}
		switch e.Status {
		case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var cert *tls.CertificateVerificationError
	return unreachable(err) && !errors.As(err, &cert)
}

// s3Error is an error answer from the server: the HTTP status and, when
// the body was an S3 <Error> document, its Code and Message.
type s3Error struct {
	Status  int
	Code    string
	Message string
	// Region is the bucket's region when the server says it (the
	// x-amz-bucket-region header or a <Region> element).
	Region string
}

func (e *s3Error) Error() string {
	status := fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	switch {
	case e.Code != "" && e.Message != "":
		return e.Code + ": " + e.Message + " (" + status + ")"
	case e.Code != "":
		return e.Code + " (" + status + ")"
	case e.Message != "":
		return status + ": " + e.Message
	}
	return status
}

// parseError reads an S3 <Error> document; a body that is not one gives an
// error naming the status and the start of the body, or nil when the
// status is 2xx (nothing wrong).
func parseError(resp *http.Response, body []byte) *s3Error {
	var doc struct {
		XMLName xml.Name
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
		Region  string `xml:"Region"`
	}
	if err := xml.Unmarshal(body, &doc); err == nil && doc.XMLName.Local == "Error" {
		return &s3Error{Status: resp.StatusCode, Code: strings.TrimSpace(doc.Code),
			Message: strings.TrimSpace(doc.Message), Region: strings.TrimSpace(doc.Region)}
	}
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return &s3Error{Status: resp.StatusCode, Message: snippet(body)}
}

// snippet is the start of a body that is not an S3 error document (a
// proxy's error page), printable and short.
func snippet(b []byte) string {
	const max = 120
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strings.ToValidUTF8(strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s), "")
}

// readXML decodes an XML result document whose root element is root.
func readXML(resp *http.Response, root string, v any) error {
	defer resp.Body.Close()
	d := xml.NewDecoder(io.LimitReader(resp.Body, maxResultBody))
	for {
		t, err := d.Token()
		if err != nil {
			return fmt.Errorf("the server's answer is not a valid %s document: %w", root, err)
		}
		if st, ok := t.(xml.StartElement); ok {
			if st.Name.Local != root {
				return fmt.Errorf("the server answered a <%s> document, want <%s>", st.Name.Local, root)
			}
			if err := d.DecodeElement(v, &st); err != nil {
				return fmt.Errorf("the server's answer is not a valid %s document: %w", root, err)
			}
			return nil
		}
	}
}
