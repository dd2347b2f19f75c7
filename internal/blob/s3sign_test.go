package blob

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The examples of the AWS documentation, "Signature Calculations for the
// Authorization Header: Transferring Payload in a Single Chunk (AWS
// Signature Version 4)" (Amazon S3 API Reference): the credentials, time,
// requests and signatures printed there.
var (
	awsExample   = signer{id: "AKIAIOSFODNN7EXAMPLE", secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1"}
	awsExampleAt = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
)

func signatureOf(t *testing.T, req *http.Request) string {
	t.Helper()
	a := req.Header.Get("Authorization")
	i := strings.Index(a, "Signature=")
	if i < 0 {
		t.Fatalf("no signature in %q", a)
	}
	return a[i+len("Signature="):]
}

// TestSigV4AWSExamples signs the documented GET Object, PUT Object and GET
// Bucket (list) examples and compares canonical request, header and
// signature with the published ones.
func TestSigV4AWSExamples(t *testing.T) {
	get, _ := http.NewRequest(http.MethodGet, "https://examplebucket.s3.amazonaws.com/test.txt", nil)
	get.Header.Set("Range", "bytes=0-9")
	awsExample.sign(get, emptySHA256, awsExampleAt)
	canonical, _ := canonicalRequest(get, emptySHA256)
	wantCanonical := "GET\n/test.txt\n\n" +
		"host:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n" +
		"x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" +
		"x-amz-date:20130524T000000Z\n\n" +
		"host;range;x-amz-content-sha256;x-amz-date\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if canonical != wantCanonical {
		t.Errorf("GET Object canonical request:\n%s\nwant\n%s", canonical, wantCanonical)
	}
	if got := hexSHA256([]byte(canonical)); got != "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972" {
		t.Errorf("GET Object: hash of the canonical request %s, want the documented 7344ae5b…", got)
	}
	wantAuth := "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, " +
		"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, " +
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
	if got := get.Header.Get("Authorization"); got != wantAuth {
		t.Errorf("GET Object: Authorization\n%s\nwant\n%s", got, wantAuth)
	}

	// PUT Object: a key with '$' (encoded %24 in the canonical URI), a
	// signed Date and x-amz-storage-class, and the body's SHA-256.
	body := []byte("Welcome to Amazon S3.")
	hash := hexSHA256(body)
	if hash != "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072" {
		t.Fatalf("sha256 of the example body: %s", hash)
	}
	put, _ := http.NewRequest(http.MethodPut, "https://examplebucket.s3.amazonaws.com/test$file.text", nil)
	put.Header.Set("Date", "Fri, 24 May 2013 00:00:00 GMT")
	put.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	awsExample.sign(put, hash, awsExampleAt)
	canonical, signed := canonicalRequest(put, hash)
	if !strings.HasPrefix(canonical, "PUT\n/test%24file.text\n\n") || signed != "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class" {
		t.Errorf("PUT Object canonical request:\n%s", canonical)
	}
	if got := signatureOf(t, put); got != "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd" {
		t.Errorf("PUT Object: signature %s, want the documented 98ad7217…", got)
	}

	// GET Bucket (List Objects): a query string, sorted.
	list, _ := http.NewRequest(http.MethodGet, "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J", nil)
	awsExample.sign(list, emptySHA256, awsExampleAt)
	if got := signatureOf(t, list); got != "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7" {
		t.Errorf("GET Bucket: signature %s, want the documented 34b48302…", got)
	}
}

// TestSigV4Encoding: what goes on the wire is what is signed.
func TestSigV4Encoding(t *testing.T) {
	for _, c := range []struct {
		in    string
		slash bool
		want  string
	}{
		{"a b+c", false, "a%20b%2Bc"},
		{"a/b", false, "a/b"},
		{"a/b", true, "a%2Fb"},
		{"AZaz09-_.~", true, "AZaz09-_.~"},
		{"$&=?#%", true, "%24%26%3D%3F%23%25"},
		{"é", true, "%C3%A9"},
	} {
		if got := uriEncode(c.in, c.slash); got != c.want {
			t.Errorf("uriEncode(%q, %v) = %q, want %q", c.in, c.slash, got, c.want)
		}
	}
	q := url.Values{"prefix": {"a/b c"}, "list-type": {"2"}, "a-b": {"1"}, "a": {"z", "y"}, "uploads": {""}}
	if got, want := canonicalQuery(q), "a=y&a=z&a-b=1&list-type=2&prefix=a%2Fb%20c&uploads="; got != want {
		t.Errorf("canonicalQuery = %q, want %q", got, want)
	}
	// The request URL carries exactly the canonical path and query.
	s, err := newS3(S3Config{Endpoint: "http://127.0.0.1:9", Bucket: "bkt", AccessKeyID: "a", SecretAccessKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	r := &s3Request{key: "ci/a b/$x+y=é", query: q}
	u := s.c.url(r)
	req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
	if got, want := req.URL.EscapedPath(), "/bkt/ci/a%20b/%24x%2By%3D%C3%A9"; got != want || canonicalURI(req.URL.Path) != want {
		t.Errorf("path on the wire %q (canonical %q), want %q", got, canonicalURI(req.URL.Path), want)
	}
	if got := req.URL.RawQuery; got != canonicalQuery(req.URL.Query()) {
		t.Errorf("query on the wire %q, canonical %q", got, canonicalQuery(req.URL.Query()))
	}
}

// TestS3Addressing: path-style for a configured endpoint; for AWS,
// virtual-hosted when the bucket can be a host name without dots.
func TestS3Addressing(t *testing.T) {
	for _, c := range []struct {
		endpoint, bucket, region, want string
	}{
		{"http://127.0.0.1:9000", "cib", "us-east-1", "http://127.0.0.1:9000/cib/k/x.zip"},
		{"https://minio.example", "ci-blobs", "eu-west-1", "https://minio.example/ci-blobs/k/x.zip"},
		{"", "ci-blobs", "us-east-1", "https://ci-blobs.s3.amazonaws.com/k/x.zip"},
		{"", "ci-blobs", "eu-west-1", "https://ci-blobs.s3.eu-west-1.amazonaws.com/k/x.zip"},
		{"", "ci.blobs", "eu-west-1", "https://s3.eu-west-1.amazonaws.com/ci.blobs/k/x.zip"},
		{"", "CI_Blobs", "us-east-1", "https://s3.amazonaws.com/CI_Blobs/k/x.zip"},
	} {
		s, err := newS3(S3Config{Endpoint: c.endpoint, Bucket: c.bucket, Region: c.region, AccessKeyID: "a", SecretAccessKey: "s"})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.c.url(&s3Request{key: "k/x.zip"}).String(); got != c.want {
			t.Errorf("%s %s %s: %s, want %s", c.endpoint, c.bucket, c.region, got, c.want)
		}
	}
}
