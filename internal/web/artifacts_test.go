package web

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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
