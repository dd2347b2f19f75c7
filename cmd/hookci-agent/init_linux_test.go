//go:build linux

package main

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestInotifyNamed feeds real inotify events to the parser the guest init
// uses to notice the host's resync file.
func TestInotifyNamed(t *testing.T) {
	dir := t.TempDir()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"resync.done", "other", "resync"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 4096)
	n, err := unix.Read(fd, buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		want bool
	}{{"resync", true}, {"resync.done", true}, {"other", true}, {"absent", false}, {"resy", false}} {
		if got := inotifyNamed(buf[:n], tc.name); got != tc.want {
			t.Errorf("inotifyNamed(events, %q) = %v, want %v", tc.name, got, tc.want)
		}
	}
	if inotifyNamed(buf[:5], "resync") {
		t.Error("a truncated event buffer matched")
	}
}
