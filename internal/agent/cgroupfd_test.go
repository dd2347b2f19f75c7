//go:build linux

package agent

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestJobCgroupFDSurvivesGC: the job cgroup's descriptor must stay open
// and name the same directory after garbage collections (its *os.File's
// finalizer closed it once, and every Exec after failed with "fork/exec:
// bad file descriptor"; a reused descriptor number would even start jobs
// in whatever file got it).
func TestJobCgroupFDSurvivesGC(t *testing.T) {
	dir := t.TempDir()
	var want syscall.Stat_t
	if err := syscall.Stat(dir, &want); err != nil {
		t.Fatal(err)
	}
	s := NewServer(nil)
	if err := s.SetJobCgroup(dir); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		runtime.GC()
		time.Sleep(5 * time.Millisecond) // finalizers run on their own goroutine
	}
	var got syscall.Stat_t
	if err := syscall.Fstat(s.jobCgroup(), &got); err != nil {
		t.Fatalf("job cgroup descriptor after GC: %v", err)
	}
	if got.Dev != want.Dev || got.Ino != want.Ino {
		t.Errorf("job cgroup descriptor names inode %d, want %d (the directory)", got.Ino, want.Ino)
	}
}
