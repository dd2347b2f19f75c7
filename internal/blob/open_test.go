package blob_test

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/blob"
	"github.com/hookci/hookci/internal/blob/s3test"
)

// TestOpenRefusesWhatCannotWork: every setting that cannot work is an
// error at start that says what is wrong.
func TestOpenRefusesWhatCannotWork(t *testing.T) {
	srv := s3test.Start(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	noEnv := func(string) string { return "" }
	cases := []struct {
		name string
		opts blob.Options
		want string
	}{
		{"wrong scheme", blob.Options{URL: "gs://bucket"}, `scheme "gs" is not supported`},
		{"relative file", blob.Options{URL: "file:rel/dir"}, "want file:///absolute/path"},
		{"unknown parameter", blob.Options{URL: "s3://b?endpoint=" + srv.Endpoint + "&secure=no"}, `unknown parameter "secure"`},
		{"no credentials", blob.Options{URL: srv.URL("bkt"), Getenv: noEnv}, "no credentials"},
		{"half the credentials", blob.Options{URL: srv.URL("bkt"), AccessKeyID: "x"}, "set both"},
		{"bad secret", blob.Options{URL: srv.URL("bkt"), AccessKeyID: srv.AccessKey, SecretAccessKey: "wrong"}, "refused the credentials"},
		{"unknown key id", blob.Options{URL: srv.URL("bkt"), AccessKeyID: "nobody", SecretAccessKey: "wrong"}, "refused the credentials"},
		{"unreachable endpoint", blob.Options{URL: "s3://bkt?endpoint=" + dead, AccessKeyID: "a", SecretAccessKey: "b"}, "cannot reach the endpoint"},
		{"bad bucket name", blob.Options{URL: srv.URL("No_Such..Bucket"), AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey}, "bucket"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := blob.Open(context.Background(), c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), srv.SecretKey) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
	// A missing bucket is created; the standard AWS environment is read.
	env := map[string]string{"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey}
	s, err := blob.Open(context.Background(), blob.Options{URL: srv.URL("fresh") + "&region=us-east-1", Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatalf("missing bucket: got %v, want it created", err)
	}
	if _, err := s.Put(context.Background(), "x", strings.NewReader("y")); err != nil {
		t.Fatal(err)
	}
}

// TestOutageLosesNothing: with the server down a Put fails with a clear
// error and a read says the endpoint cannot be reached; once it is back,
// what was stored before is intact.
func TestOutageLosesNothing(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	s := srv.Open(t, "outage")
	before, err := s.Put(ctx, "kept", strings.NewReader("stored before the outage"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if _, err := s.Put(ctx, "kept", strings.NewReader("written during the outage")); err == nil || !strings.Contains(err.Error(), "cannot reach the endpoint") {
		t.Errorf("put while down: got %v, want an error naming the unreachable endpoint", err)
	}
	if _, err := s.Stat(ctx, "kept"); err == nil || !strings.Contains(err.Error(), "cannot reach the endpoint") {
		t.Errorf("stat while down: got %v, want an error naming the unreachable endpoint", err)
	}
	srv.Restart()
	o, err := s.Open(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(blob.Verify(o, before.SHA256))
	if err != nil || string(b) != "stored before the outage" {
		t.Errorf("after the outage: got %q, %v; want the object stored before it", b, err)
	}
}

// TestOpenS3Prefix: the URL's path is a prefix inside the bucket, so that
// installations can share one.
func TestOpenS3Prefix(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	s, err := blob.Open(ctx, blob.Options{URL: srv.URL("shared"), AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	u := strings.Replace(srv.URL("shared"), "s3://shared?", "s3://shared/ci/one?", 1)
	p, err := blob.Open(ctx, blob.Options{URL: u, AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Put(ctx, "artifacts/x", strings.NewReader("y")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "ci/one/artifacts/x"); err != nil {
		t.Errorf("the object is not under the prefix: %v", err)
	}
	if l, _ := p.List(ctx, ""); len(l) != 1 || l[0].Key != "artifacts/x" {
		t.Errorf("list under the prefix: got %+v, want artifacts/x", l)
	}
}
