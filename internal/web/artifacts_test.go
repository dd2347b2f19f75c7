package web

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/artifact"
)

func TestArtifactsHandler(t *testing.T) {
	store := artifact.NewStore(t.TempDir())
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("hello.txt")
	w.Write([]byte("hi"))
	zw.Close()
	want := buf.Bytes()
	if _, err := store.Add(context.Background(), 5, "octo/hello", "dist", bytes.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ArtifactsHandler(store))
	defer srv.Close()

	tests := []struct {
		path string
		code int
	}{
		{"/runs/5/artifacts/dist", 200},
		{"/runs/5/artifacts/nope", 404},
		{"/runs/6/artifacts/dist", 404},
		{"/runs/5/artifacts/..%2F5%2Fdist", 404},
		{"/runs/x/artifacts/dist", 400},
		{"/api/runs/5/artifacts", 200},
	}
	for _, tt := range tests {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("GET %s: status %d, want %d", tt.path, resp.StatusCode, tt.code)
			continue
		}
		switch tt.path {
		case "/runs/5/artifacts/dist":
			if !bytes.Equal(body, want) || resp.Header.Get("Content-Type") != "application/zip" {
				t.Errorf("GET %s: got %d bytes (%s), want the zip", tt.path, len(body), resp.Header.Get("Content-Type"))
			}
		case "/api/runs/5/artifacts":
			var list []artifact.Artifact
			if err := json.Unmarshal(body, &list); err != nil || len(list) != 1 || list[0].Name != "dist" || list[0].Size != int64(len(want)) {
				t.Errorf("GET %s: got %s, want one artifact dist of %d bytes", tt.path, body, len(want))
			}
		}
	}
}

// TestArtifactDownloadChecked: a stored zip altered after its upload (same
// size, other bytes: what someone with write access to a shared bucket
// could do) is not served as a complete download: the response is cut
// short before its last bytes. The untouched artifact downloads whole.
func TestArtifactDownloadChecked(t *testing.T) {
	dir := t.TempDir()
	store := artifact.NewStore(dir)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("big.bin")
	data := make([]byte, 200<<10) // incompressible: the zip spans several copy buffers
	rand.Read(data)
	w.Write(data)
	zw.Close()
	want := buf.Bytes()
	ctx := context.Background()
	for _, name := range []string{"good", "bad"} {
		if _, err := store.Add(ctx, 7, "octo/hello", name, bytes.NewReader(want)); err != nil {
			t.Fatal(err)
		}
	}
	// Alter the stored bytes of "bad" (same length).
	f, a, err := store.Open(ctx, 7, "bad")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	var altered int
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(p, "bad") {
			return err
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Equal(b, want) {
			b[len(b)/2] ^= 0xff
			altered++
			return os.WriteFile(p, b, 0o644)
		}
		return nil
	})
	if altered != 1 {
		t.Fatalf("altered %d stored zips of %q (digest %s), want 1", altered, a.Name, a.Digest)
	}
	srv := httptest.NewServer(ArtifactsHandler(store))
	defer srv.Close()
	get := func(name string) (int, []byte, error) {
		resp, err := http.Get(srv.URL + "/runs/7/artifacts/" + name)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, body, err
	}
	if code, body, err := get("good"); err != nil || code != 200 || !bytes.Equal(body, want) {
		t.Errorf("untouched artifact: status %d, %d bytes, err %v; want 200 and the zip", code, len(body), err)
	}
	code, body, err := get("bad")
	if err == nil {
		t.Errorf("altered artifact: status %d, %d of %d bytes, no error; want the download cut short", code, len(body), len(want))
	}
	if len(body) >= len(want) {
		t.Errorf("altered artifact: %d bytes received, want fewer than its %d", len(body), len(want))
	}
}
