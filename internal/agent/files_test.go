package agent

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// entry is the comparable part of a tar entry.
type entry struct {
	Name     string
	Type     byte
	Mode     int64
	Content  string
	Linkname string
}

func makeTar(t *testing.T, entries []entry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.Name, Typeflag: e.Type, Mode: e.Mode, Linkname: e.Linkname, Size: int64(len(e.Content))}
		if e.Type != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if e.Type == tar.TypeReg {
			io.WriteString(tw, e.Content)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func readTar(t *testing.T, r io.Reader) []entry {
	t.Helper()
	var got []entry
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, entry{hdr.Name, hdr.Typeflag, hdr.Mode & 0o7777, string(data), hdr.Linkname})
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Name < got[j].Name })
	return got
}

func TestFilesRoundTrip(t *testing.T) {
	c := startServer(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "ws")
	in := []entry{
		{"a.txt", tar.TypeReg, 0o644, "hello\n", ""},
		{"bin/", tar.TypeDir, 0o755, "", ""},
		{"bin/run.sh", tar.TypeReg, 0o755, "#!/bin/sh\necho run\n", ""},
		{"deep/er/file", tar.TypeReg, 0o600, "x", ""},
		{"link", tar.TypeSymlink, 0o777, "", "a.txt"},
		{"abs-link", tar.TypeSymlink, 0o777, "", "/usr/share"},
		{"hard", tar.TypeLink, 0, "", "a.txt"},
	}
	if err := c.PutFiles(ctx, dir, makeTar(t, in)); err != nil {
		t.Fatalf("PutFiles: %v", err)
	}
	rc, err := c.GetFiles(ctx, dir)
	if err != nil {
		t.Fatalf("GetFiles: %v", err)
	}
	defer rc.Close()
	got := readTar(t, rc)
	want := []entry{
		{"a.txt", tar.TypeReg, 0o644, "hello\n", ""},
		{"abs-link", tar.TypeSymlink, 0o777, "", "/usr/share"},
		{"bin/", tar.TypeDir, 0o755, "", ""},
		{"bin/run.sh", tar.TypeReg, 0o755, "#!/bin/sh\necho run\n", ""},
		{"deep/", tar.TypeDir, 0o755, "", ""},
		{"deep/er/", tar.TypeDir, 0o755, "", ""},
		{"deep/er/file", tar.TypeReg, 0o600, "x", ""},
		{"hard", tar.TypeReg, 0o644, "hello\n", ""},
		{"link", tar.TypeSymlink, 0o777, "", "a.txt"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tar round trip (-want +got):\n%s", diff)
	}

	rc, err = c.GetFiles(ctx, filepath.Join(dir, "bin", "run.sh"))
	if err != nil {
		t.Fatalf("GetFiles of a file: %v", err)
	}
	defer rc.Close()
	wantFile := []entry{{"run.sh", tar.TypeReg, 0o755, "#!/bin/sh\necho run\n", ""}}
	if diff := cmp.Diff(wantFile, readTar(t, rc)); diff != "" {
		t.Errorf("tar of one file (-want +got):\n%s", diff)
	}
}

func TestPutFilesRefusesEscapes(t *testing.T) {
	c := startServer(t)
	ctx := context.Background()
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		entries []entry
	}{
		{"dot-dot", []entry{{"../outside/evil", tar.TypeReg, 0o644, "x", ""}}},
		{"dot-dot inside path", []entry{{"a/../../outside/evil", tar.TypeReg, 0o644, "x", ""}}},
		{"absolute", []entry{{outside + "/evil", tar.TypeReg, 0o644, "x", ""}}},
		{"through absolute symlink", []entry{
			{"link", tar.TypeSymlink, 0o777, "", outside},
			{"link/evil", tar.TypeReg, 0o644, "x", ""},
		}},
		{"through relative symlink", []entry{
			{"link", tar.TypeSymlink, 0o777, "", "../outside"},
			{"link/evil", tar.TypeReg, 0o644, "x", ""},
		}},
		{"replacing a symlinked file", []entry{
			{"evil", tar.TypeSymlink, 0o777, "", "../outside/evil"},
			{"sub/", tar.TypeDir, 0o755, "", ""},
			{"sub/../evil/x", tar.TypeReg, 0o644, "x", ""},
		}},
		{"hard link out", []entry{{"hard", tar.TypeLink, 0, "", "../outside/target"}}},
		{"a directory replaced by a symlink", []entry{
			{"e/", tar.TypeDir, 0o755, "", ""},
			{"e", tar.TypeSymlink, 0o777, "", outside},
			{"e/evil", tar.TypeReg, 0o644, "x", ""},
		}},
	}
	if err := os.WriteFile(filepath.Join(outside, "target"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(base, "ws", string(rune('a'+i)))
			err := c.PutFiles(ctx, dir, makeTar(t, tt.entries))
			if err == nil {
				t.Fatal("PutFiles: got nil error, want the escape refused")
			}
			var ie *InfraError
			if errors.As(err, &ie) {
				t.Errorf("PutFiles: got InfraError %v, want a request error", err)
			}
			if _, err := os.Stat(filepath.Join(outside, "evil")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("file outside the target directory: stat got %v, want not exist", err)
			}
		})
	}
}

func TestPutFilesBadTar(t *testing.T) {
	c := startServer(t)
	err := c.PutFiles(context.Background(), filepath.Join(t.TempDir(), "x"), bytes.NewReader(bytes.Repeat([]byte("junk"), 300)))
	if err == nil {
		t.Fatal("PutFiles of junk: got nil error")
	}
}

func TestWriteReadFile(t *testing.T) {
	c := startServer(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a", "b", "f.sh")
	data := []byte("#!/bin/sh\necho hi\n")
	if err := c.WriteFile(ctx, path, data, 0o750); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), fs.FileMode(0o750); got != want {
		t.Errorf("mode: got %v, want %v", got, want)
	}
	got, err := c.ReadFile(ctx, path)
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("ReadFile: got %q, want %q", got, data)
	}
}

func TestMissingPaths(t *testing.T) {
	c := startServer(t)
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := c.ReadFile(ctx, missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: got %v, want fs.ErrNotExist", err)
	}
	if _, err := c.GetFiles(ctx, missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("GetFiles of a missing path: got %v, want fs.ErrNotExist", err)
	}
	if _, err := c.ReadFile(ctx, "relative/path"); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of a relative path: got %v, want a bad request error", err)
	}
}

func TestInfo(t *testing.T) {
	c := startServer(t)
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if info.Version != Version || info.Hostname != host || info.NumCPU < 1 || info.OS == "" || info.Arch == "" {
		t.Errorf("Info: got %+v, want version %s, hostname %s", info, Version, host)
	}
}

// zeroReader yields n zero bytes and tracks the peak heap while read.
type zeroReader struct {
	n, sinceSample int64
	peakHeap       uint64
}

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), z.n)]
	clear(p)
	z.n -= int64(len(p))
	if z.sinceSample += int64(len(p)); z.sinceSample >= 8<<20 {
		z.sinceSample = 0
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		z.peakHeap = max(z.peakHeap, ms.HeapInuse)
	}
	return len(p), nil
}

func TestPutFilesLargeStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB upload; skipped with -short")
	}
	c := startServer(t)
	const size = 64 << 20
	pr, pw := io.Pipe()
	zr := &zeroReader{n: size}
	go func() {
		tw := tar.NewWriter(pw)
		tw.WriteHeader(&tar.Header{Name: "big", Typeflag: tar.TypeReg, Mode: 0o644, Size: size})
		io.Copy(tw, zr)
		pw.CloseWithError(tw.Close())
	}()
	dir := filepath.Join(t.TempDir(), "ws")
	if err := c.PutFiles(context.Background(), dir, pr); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "big"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != size {
		t.Errorf("size: got %d, want %d", fi.Size(), size)
	}
	// Client and server share this process; the upload must stream.
	if zr.peakHeap > 48<<20 {
		t.Errorf("peak heap in use during a %d MiB upload: %d MiB, want it streamed (< 48 MiB)", size>>20, zr.peakHeap>>20)
	}
}

// TestExtractModesAndTimes: files and directories get the tar's modes
// whatever the umask (the extractor sets only what the umask took away);
// a plain put keeps the tar's modification times, a checkout's files get
// the time they are written, as after git's checkout.
func TestExtractModesAndTimes(t *testing.T) {
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct {
		name string
		typ  byte
		mode int64
	}{{"open/", tar.TypeDir, 0o777}, {"private/", tar.TypeDir, 0o700}, {"open/all", tar.TypeReg, 0o777},
		{"open/group", tar.TypeReg, 0o664}, {"private/secret", tar.TypeReg, 0o600}, {"plain", tar.TypeReg, 0o644}} {
		tw.WriteHeader(&tar.Header{Typeflag: e.typ, Name: e.name, Mode: e.mode, ModTime: old})
	}
	tw.Close()
	for _, keepTimes := range []bool{true, false} {
		dir := t.TempDir()
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now().Add(-time.Second)
		x := newExtractor(root)
		x.keepTimes = keepTimes
		if err := x.extract(bytes.NewReader(buf.Bytes())); err != nil {
			t.Fatal(err)
		}
		x.close()
		root.Close()
		for name, want := range map[string]fs.FileMode{"open": 0o777, "private": 0o700, "open/all": 0o777,
			"open/group": 0o664, "private/secret": 0o600, "plain": 0o644} {
			fi, err := os.Lstat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s: mode %v, want %v (umask %v)", name, fi.Mode().Perm(), want, umask())
			}
			if fi.IsDir() {
				continue // its time moves as entries are written into it
			}
			if keepTimes && !fi.ModTime().Equal(old) {
				t.Errorf("%s: mtime %v, want the tar's %v", name, fi.ModTime(), old)
			}
			if !keepTimes && fi.ModTime().Before(start) {
				t.Errorf("checkout %s: mtime %v, want the time it was written (after %v)", name, fi.ModTime(), start)
			}
		}
	}
	if umask() == 0o777 {
		t.Errorf("umask not read from /proc/self/status")
	}
}
