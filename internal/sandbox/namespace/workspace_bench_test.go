package namespace

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/sandbox"
)

// BenchmarkPutWorkspace measures how a job's workspace reaches a namespace
// sandbox: the checkout's tar put through the agent, which creates each
// entry in the sandbox's workspace (a directory on the data directory's
// disk). Next to it, in the same directory's file system, the cost of
// creating the same files directly (os.WriteFile), so the agent's share
// and the file system's show apart. The workspace is emptied between
// rounds (not timed).
//
//	go test -run XXX -bench PutWorkspace ./internal/sandbox/namespace/
func BenchmarkPutWorkspace(b *testing.B) {
	for _, tc := range []struct {
		name  string
		files int
		size  int
	}{{"50 files of 3 bytes", 50, 3}, {"one file of 60 KB", 1, 60000}} {
		b.Run(tc.name, func(b *testing.B) {
			src := b.TempDir()
			for i := range tc.files {
				if err := os.WriteFile(filepath.Join(src, fmt.Sprint("f", i)), bytes.Repeat([]byte{'x'}, tc.size), 0o644); err != nil {
					b.Fatal(err)
				}
			}
			var tarball bytes.Buffer
			if err := gitrepo.TarDir(&tarball, src); err != nil {
				b.Fatal(err)
			}
			be := newBackend(b, Config{})
			inst, err := be.Start(context.Background(), sandbox.Spec{ID: "put-ws"})
			if err != nil {
				b.Fatal(err)
			}
			defer inst.Close()
			// The same creates done directly, in the file system the
			// sandbox's workspace is on (the backend's WorkDir).
			direct := filepath.Join(be.cfg.WorkDir, "direct")
			var directTotal time.Duration
			rounds := 0
			for b.Loop() {
				if err := inst.Client.PutFiles(context.Background(), inst.Layout.Workspace, bytes.NewReader(tarball.Bytes())); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if code, out := run(b, inst, "rm -rf ./*"); code != 0 {
					b.Fatalf("emptying the workspace: %d %s", code, out)
				}
				os.RemoveAll(direct)
				os.Mkdir(direct, 0o755)
				t0 := time.Now()
				for i := range tc.files {
					if err := os.WriteFile(filepath.Join(direct, fmt.Sprint("f", i)), bytes.Repeat([]byte{'x'}, tc.size), 0o644); err != nil {
						b.Fatal(err)
					}
				}
				directTotal += time.Since(t0)
				rounds++
				b.StartTimer()
			}
			b.ReportMetric(float64(directTotal.Microseconds())/float64(rounds)/1000, "direct-create-ms/op")
		})
	}
}
