package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/blob/s3test"
	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/store/pgtest"
)

// TestArtifactsAndCachesAcrossServers: two `hookci serve` with their own
// data directories share one PostgreSQL and one S3 bucket (a real versitygw,
// [blobs]). Host A runs a push whose job uploads an artifact and saves a
// cache, then stops; host B runs the next push, whose job downloads A's
// artifact (checking the file's sha256 recorded by A's job) and restores
// A's cache with fail-on-cache-miss; B's dashboard serves A's artifact zip.
func TestArtifactsAndCachesAcrossServers(t *testing.T) {
	url := pgtest.URL(t)
	srv := s3test.Start(t)
	blobs := config.Blobs{URL: srv.URL("hookci"), AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey}
	build := `name: CI
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: mkdir out && head -c 2000000 /dev/urandom > out/data.bin && cd out && sha256sum data.bin > data.sum
      - uses: actions/upload-artifact@v4
        with:
          name: dist
          path: out
      - run: echo "cached-by-A $GITHUB_SHA" > c.txt
      - uses: actions/cache/save@v4
        with:
          path: c.txt
          key: shared-key
`
	a := newHarness(t, "host", func(c *config.Config) { c.DatabaseURL = url; c.Blobs = blobs })
	sha1 := a.repo.Commit("build", map[string]string{".github/workflows/ci.yml": build})
	a.repo.Push("main")
	body := pushPayload(t, strings.Repeat("0", 40), sha1)
	if code := a.sendSigned("push", "across-1", body); code != 202 {
		t.Fatalf("delivery 1: %d", code)
	}
	if sts := a.waitStatus(sha1); sts[len(sts)-1].State != "success" {
		t.Fatalf("host A's run: statuses %+v, want … success", sts)
	}
	runID := runIDOf(t, a, sha1)
	a.stop()
	a.stop = func() {}

	b := &harness{t: t, gh: a.gh, repo: a.repo, sandbox: "host", cfg: a.cfg}
	b.cfg.DataDir = t.TempDir()
	b.start()
	t.Cleanup(func() { b.stop() })
	use := fmt.Sprintf(`name: CI
on: push
jobs:
  use:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: dist
          run-id: %d
          path: got
      - run: cd got && sha256sum -c data.sum
      - uses: actions/cache/restore@v4
        with:
          path: c.txt
          key: shared-key
          fail-on-cache-miss: true
      - run: grep "cached-by-A %s" c.txt
`, runID, sha1)
	sha2 := b.repo.Commit("use", map[string]string{".github/workflows/ci.yml": use})
	b.repo.Push("main")
	body = pushPayload(t, sha1, sha2)
	if code := b.sendSigned("push", "across-2", body); code != 202 {
		t.Fatalf("delivery 2: %d", code)
	}
	if sts := b.waitStatus(sha2); sts[len(sts)-1].State != "success" {
		t.Fatalf("host B's run (download A's artifact, restore A's cache): statuses %+v, want … success", sts)
	}
	// B's dashboard lists and serves the artifact A's job uploaded.
	var list []struct {
		Name   string `json:"name"`
		Size   int64  `json:"size"`
		Digest string `json:"digest"`
	}
	if err := json.Unmarshal([]byte(b.get(fmt.Sprintf("/api/runs/%d/artifacts", runID))), &list); err != nil || len(list) != 1 || list[0].Name != "dist" {
		t.Fatalf("host B's artifact list of run %d: %+v, %v; want dist", runID, list, err)
	}
	resp, err := http.Get(fmt.Sprintf("%s/runs/%d/artifacts/dist", b.url, runID))
	if err != nil {
		t.Fatal(err)
	}
	zb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || int64(len(zb)) != list[0].Size {
		t.Fatalf("host B's download: %d, %d bytes; want 200 and %d", resp.StatusCode, len(zb), list[0].Size)
	}
	zr, err := zip.NewReader(bytes.NewReader(zb), int64(len(zb)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, " "); got != "data.bin data.sum" {
		t.Errorf("zip entries: got %q, want %q", got, "data.bin data.sum")
	}
}

// runIDOf is the id of the run of sha, from the JSON API.
func runIDOf(t *testing.T, h *harness, sha string) int64 {
	t.Helper()
	var runs []map[string]any
	json.Unmarshal([]byte(h.get("/api/runs")), &runs)
	for _, r := range runs {
		if fmt.Sprint(r["SHA"]) == sha {
			if id, ok := r["ID"].(float64); ok {
				return int64(id)
			}
		}
	}
	t.Fatalf("no run of %s in /api/runs", sha)
	return 0
}

// TestServeBadBlobStore: `hookci serve` with a [blobs] setting that cannot
// work stops at start saying why (never printing the secret key), rather
// than failing the first upload.
func TestServeBadBlobStore(t *testing.T) {
	srv := s3test.Start(t)
	for _, tc := range []struct {
		name  string
		blobs config.Blobs
		want  string
	}{
		{"scheme", config.Blobs{URL: "gs://bucket"}, `scheme "gs" is not supported`},
		{"bad secret", config.Blobs{URL: srv.URL("hookci"), AccessKeyID: srv.AccessKey, SecretAccessKey: "hunter2-wrong"}, "refused the credentials"},
		{"unreachable", config.Blobs{URL: "s3://hookci?endpoint=http://127.0.0.1:1", AccessKeyID: "a", SecretAccessKey: "hunter2-wrong"}, "cannot reach the endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t, t.TempDir(), "http://127.0.0.1:1")
			cfg.Blobs = tc.blobs
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			err = serveOn(context.Background(), cfg, slog.New(slog.DiscardHandler), l)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error prints the secret: %v", err)
			}
		})
	}
}
