package agent

import (
	"archive/tar"
	"bytes"
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkExtractCheckout times extracting a small checkout's tar (50
// files in 10 directories and a .git of 12 entries) into a new directory,
// then restatting its index: what the agent does for every job's
// workspace. File creation costs move with the file system's load (see
// bench/README.md): compare runs made side by side.
func BenchmarkExtractCheckout(b *testing.B) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	add := func(name string, data []byte, mode int64) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: now})
		tw.Write(data)
	}
	for _, d := range []string{".git", ".git/hooks", ".git/info", ".git/logs", ".git/objects", ".git/objects/pack", ".git/refs", ".git/refs/heads"} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: now})
	}
	for _, f := range []string{"HEAD", "config", "shallow", "logs/HEAD"} {
		add(".git/"+f, []byte("x\n"), 0o644)
	}
	var paths []string
	for d := 0; d < 10; d++ {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: fmt.Sprintf("dir%d/", d), Mode: 0o755, ModTime: now})
		for f := 0; f < 5; f++ {
			p := fmt.Sprintf("dir%d/file%d.txt", d, f)
			add(p, []byte("content\n"), 0o644)
			paths = append(paths, p)
		}
	}
	add(".git/index", testIndex(b, paths), 0o644)
	tw.Close()
	tarBytes := buf.Bytes()
	parent := b.TempDir()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dir := filepath.Join(parent, fmt.Sprint(i))
		os.Mkdir(dir, 0o755)
		root, err := os.OpenRoot(dir)
		if err != nil {
			b.Fatal(err)
		}
		if err := extractTar(root, bytes.NewReader(tarBytes)); err != nil {
			b.Fatal(err)
		}
		if err := restatIndex(root, ".git/index"); err != nil {
			b.Fatal(err)
		}
		root.Close()
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
}

// testIndex is a version 2 git index naming paths (mode 100644, zero stat
// data and ids).
func testIndex(tb testing.TB, paths []string) []byte {
	tb.Helper()
	var b bytes.Buffer
	b.WriteString("DIRC\x00\x00\x00\x02")
	b.Write([]byte{0, 0, byte(len(paths) >> 8), byte(len(paths))})
	for _, p := range paths {
		var e [62]byte
		e[24], e[25], e[26], e[27] = 0, 0, 0o100644>>8, 0o100644&0xff
		e[60], e[61] = byte(len(p)>>8), byte(len(p))
		b.Write(e[:])
		b.WriteString(p)
		n := 62 + len(p)
		b.Write(make([]byte, (n+8)&^7-n))
	}
	sum := sha1.Sum(b.Bytes())
	b.Write(sum[:])
	return b.Bytes()
}
