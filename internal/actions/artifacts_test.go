package actions

import (
	"archive/zip"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const uploadJob = `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: |
          mkdir -p dist/sub dist/.hidden logs
          echo bin > dist/app
          echo s > dist/sub/s.txt
          echo h > dist/.hidden/h
          echo skip > dist/sub/skip.log
          echo l > logs/a.log
      - id: up
        uses: actions/upload-artifact@v4
        with:
          name: dist
          path: |
            dist/
            !dist/**/*.log
      - uses: actions/upload-artifact@v4
        with:
          name: logs
          path: logs/*.log
      - run: echo "id=${{ steps.up.outputs.artifact-id }} digest=${{ steps.up.outputs.artifact-digest }}"
  use:
    runs-on: ubuntu-latest
    steps:
      - id: dl
        uses: actions/download-artifact@v4
        with:
          name: dist
          path: got
      - run: |
          find got -type f | sort
          echo "path=${{ steps.dl.outputs.download-path }}"
      - uses: actions/download-artifact@v4
        with:
          path: all
      - run: find all -type f | sort
      - uses: actions/download-artifact@v4
        with:
          name: nothing
`

func TestArtifactsAcrossJobs(t *testing.T) {
	e := newEnv(t, nil)
	res, rec := e.run(uploadJob, "build", runOpts{runID: 42})
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "Artifact dist has been successfully uploaded!")

	list, err := e.r.Artifacts().List(context.Background(), 42)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range list {
		names = append(names, a.Name)
	}
	if diff := cmp.Diff([]string{"dist", "logs"}, names); diff != "" {
		t.Errorf("artifacts (-want +got):\n%s", diff)
	}
	f, a, err := e.r.Artifacts().Open(context.Background(), 42, "dist")
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(f, a.Size)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, zf := range zr.File {
		files = append(files, zf.Name)
	}
	f.Close()
	sort.Strings(files)
	if diff := cmp.Diff([]string{"app", "sub/s.txt"}, files); diff != "" {
		t.Errorf("dist zip entries (-want +got):\n%s", diff)
	}
	if _, _, err := e.r.Artifacts().Open(context.Background(), 42, "../42/dist"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open with a traversing name: got %v, want ErrNotExist", err)
	}

	res, rec = e.run(uploadJob, "use", runOpts{runID: 42})
	wantConclusion(t, res, rec, "failure") // the last step asks for a missing artifact
	wantLog(t, rec, "got/app\ngot/sub/s.txt", "path=", "all/dist/app\nall/dist/sub/s.txt\nall/logs/a.log",
		"Unable to download artifact(s): Artifact not found for name: nothing")
	if res.FailedStep != 5 {
		t.Errorf("failed step = %d, want 5", res.FailedStep)
	}

	// Another run sees none of them; a second upload of a name fails.
	res, rec = e.run(uploadJob, "use", runOpts{runID: 43})
	wantConclusion(t, res, rec, "failure")
	wantLog(t, rec, "Artifact not found for name: dist")
	res, rec = e.run(uploadJob, "build", runOpts{runID: 42})
	wantConclusion(t, res, rec, "failure")
	wantLog(t, rec, "an artifact with this name already exists on the workflow run")
}

func TestArtifactTraversalRefused(t *testing.T) {
	e := newEnv(t, nil)
	// A zip with an escaping entry, planted in the store.
	dir := filepath.Join(e.cfg.DataDir, "artifacts", "9")
	os.MkdirAll(dir, 0o755)
	zf, _ := os.Create(filepath.Join(dir, "evil.zip"))
	zw := zip.NewWriter(zf)
	w, _ := zw.Create("../../escape.txt")
	w.Write([]byte("x"))
	zw.Close()
	zf.Close()
	os.WriteFile(filepath.Join(dir, "evil.json"), []byte(`{"name":"evil","repo":"octo/hello","run_id":9}`), 0o644)
	src := `
on: push
jobs:
  use:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: evil
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: a/../../b
          path: .
`
	res, rec := e.run(src, "use", runOpts{runID: 9})
	wantConclusion(t, res, rec, "failure")
	wantLog(t, rec, `refusing entry "../../escape.txt": it leaves the download directory`,
		"The artifact name is not valid: a/../../b")
	if rec.res[2].Outcome != "failure" {
		t.Errorf("upload with a bad name: outcome %q, want failure", rec.res[2].Outcome)
	}
}
