package oci_test

import (
	"archive/tar"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/oci"
	"github.com/hookci/hookci/internal/oci/ocitest"
)

func quiet() oci.Option { return oci.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))) }

func open(t *testing.T, regs map[string]config.Registry) *oci.Store {
	t.Helper()
	s, err := oci.Open(t.TempDir(), regs, quiet())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPullThroughMirror pushes a two-layer image as library/app:1 and pulls
// "app:1" (Docker's short form) through a docker.io mirror: layers applied in
// order (whiteout, opaque dir, hard link, symlink, setuid, ownership), the
// config as the image says.
func TestPullThroughMirror(t *testing.T) {
	reg := ocitest.Registry(t)
	ctx := context.Background()
	lower := ocitest.TarLayer(t,
		ocitest.Entry{Name: "etc/", Type: tar.TypeDir},
		ocitest.Entry{Name: "etc/gone", Body: "x"},
		ocitest.Entry{Name: "opq/", Type: tar.TypeDir},
		ocitest.Entry{Name: "opq/old", Body: "old"},
		ocitest.Entry{Name: "bin/", Type: tar.TypeDir},
		ocitest.Entry{Name: "bin/tool", Body: "#!/bin/sh\n", Mode: 0o4755},
		ocitest.Entry{Name: "home/app/", Type: tar.TypeDir, UID: 1000, GID: 1000, Mode: 0o700},
	)
	upper := ocitest.TarLayer(t,
		ocitest.Entry{Name: "etc/.wh.gone"},
		ocitest.Entry{Name: "opq/", Type: tar.TypeDir},
		ocitest.Entry{Name: "opq/.wh..wh..opq"},
		ocitest.Entry{Name: "opq/new", Body: "new"},
		ocitest.Entry{Name: "bin/alias", Type: tar.TypeLink, Linkname: "bin/tool"},
		ocitest.Entry{Name: "bin/sym", Type: tar.TypeSymlink, Linkname: "/bin/tool"},
		ocitest.Entry{Name: "home/app/file", Body: "mine", UID: 1000, GID: 1000, Mode: 0o600},
	)
	cfg := v1.Config{Env: []string{"PATH=/bin", "A=b"}, User: "app", WorkingDir: "/home/app",
		Entrypoint: []string{"/bin/tool"}, Cmd: []string{"serve"},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
		Healthcheck:  &v1.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Second, Retries: 3}}
	if err := reg.Push(ctx, "library/app:1", ocitest.Image(t, cfg, lower, upper)); err != nil {
		t.Fatal(err)
	}
	s := open(t, reg.Mirror())
	img, err := s.Pull(ctx, "app:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := img.Ref, "docker.io/library/app:1"; got != want {
		t.Errorf("ref: got %s, want %s", got, want)
	}
	if got, want := img.Platform, "linux/amd64"; got != want {
		t.Errorf("platform: got %s, want %s", got, want)
	}
	want := oci.ImageConfig{Env: []string{"PATH=/bin", "A=b"}, User: "app", WorkingDir: "/home/app",
		Entrypoint: []string{"/bin/tool"}, Cmd: []string{"serve"}, ExposedPorts: []string{"8080/tcp"},
		Healthcheck: &oci.Healthcheck{Test: []string{"CMD", "true"}, Interval: time.Second, Retries: 3}}
	if d := cmp.Diff(want, img.Config); d != "" {
		t.Errorf("config (-want +got):\n%s", d)
	}
	root := img.RootFS
	for _, gone := range []string{"etc/gone", "opq/old"} {
		if _, err := os.Lstat(filepath.Join(root, gone)); !os.IsNotExist(err) {
			t.Errorf("%s: got %v, want it removed by the upper layer's whiteout", gone, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "opq/new")); string(b) != "new" {
		t.Errorf("opq/new: got %q, want new", b)
	}
	var a, b syscall.Stat_t
	syscall.Stat(filepath.Join(root, "bin/tool"), &a)
	syscall.Stat(filepath.Join(root, "bin/alias"), &b)
	if a.Ino != b.Ino || a.Ino == 0 {
		t.Errorf("bin/alias: inode %d, want bin/tool's %d (hard link)", b.Ino, a.Ino)
	}
	if a.Mode&0o7777 != 0o4755 {
		t.Errorf("bin/tool mode: got %o, want 4755", a.Mode&0o7777)
	}
	if l, _ := os.Readlink(filepath.Join(root, "bin/sym")); l != "/bin/tool" {
		t.Errorf("bin/sym: got %q, want /bin/tool", l)
	}
	var h syscall.Stat_t
	syscall.Stat(filepath.Join(root, "home/app/file"), &h)
	if h.Uid != 1000 || h.Gid != 1000 || h.Mode&0o777 != 0o600 {
		t.Errorf("home/app/file: got %d:%d %o, want 1000:1000 600", h.Uid, h.Gid, h.Mode&0o777)
	}
	fi, err := os.Stat(s.Root())
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("store root mode: got %v (%v), want 0700 (setuid files of images out of host users' reach)", fi.Mode(), err)
	}

	// Warm: the same digest, nothing downloaded again; the ext4 image once.
	again, err := s.Pull(ctx, "docker.io/library/app:1", nil)
	if err != nil || again.Digest != img.Digest || again.RootFS != img.RootFS {
		t.Fatalf("second pull: got %+v, %v, want digest %s", again, err, img.Digest)
	}
	disk, err := img.Ext4(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(disk); err != nil || fi.Size() == 0 {
		t.Fatalf("ext4 image: %v", err)
	}
}

// TestPullConcurrentSharesWork: ten pulls of one image at once, in two
// stores over one data directory, end with one unpacked root.
func TestPullConcurrentSharesWork(t *testing.T) {
	reg := ocitest.Registry(t)
	ctx := context.Background()
	img := ocitest.Image(t, v1.Config{}, ocitest.TarLayer(t, ocitest.Entry{Name: "f", Body: "x"}))
	if err := reg.Push(ctx, "library/c:1", img); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var stores []*oci.Store
	for range 2 {
		s, err := oci.Open(dir, reg.Mirror(), quiet())
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
	}
	var wg sync.WaitGroup
	roots := make([]string, 10)
	errs := make([]error, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			im, err := stores[i%2].Pull(ctx, "c:1", nil)
			errs[i] = err
			if err == nil {
				roots[i] = im.RootFS
			}
		}()
	}
	wg.Wait()
	for i := range 10 {
		if errs[i] != nil || roots[i] != roots[0] {
			t.Errorf("pull %d: got %q, %v; want %q", i, roots[i], errs[i], roots[0])
		}
	}
	left, _ := os.ReadDir(filepath.Join(dir, "oci", "tmp"))
	if len(left) != 0 {
		t.Errorf("staging left behind: %v", left)
	}
}

// TestPullPlatformMismatch: an index with arm64 and s390x only is refused
// naming both.
func TestPullPlatformMismatch(t *testing.T) {
	reg := ocitest.Registry(t)
	ctx := context.Background()
	var idx v1.ImageIndex = empty.Index
	for _, arch := range []string{"arm64", "s390x"} {
		im := ocitest.Image(t, v1.Config{}, ocitest.TarLayer(t, ocitest.Entry{Name: arch, Body: arch}))
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: im,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	if err := reg.Push(ctx, "library/multi:1", idx); err != nil {
		t.Fatal(err)
	}
	_, err := open(t, reg.Mirror()).Pull(ctx, "multi:1", nil)
	if err == nil || !strings.Contains(err.Error(), "no linux/amd64 variant (it has: linux/arm64, linux/s390x)") {
		t.Fatalf("got %v, want the platforms named", err)
	}
}

// TestPullPlainHTTPNeedsConfig: a loopback registry named directly is
// refused over plain HTTP until [registries] says insecure.
func TestPullPlainHTTPNeedsConfig(t *testing.T) {
	reg := ocitest.Registry(t)
	ctx := context.Background()
	img := ocitest.Image(t, v1.Config{}, ocitest.TarLayer(t, ocitest.Entry{Name: "f", Body: "x"}))
	if err := reg.Push(ctx, "team/app:1", img); err != nil {
		t.Fatal(err)
	}
	ref := reg.Host + "/team/app:1"
	if _, err := open(t, nil).Pull(ctx, ref, nil); err == nil || !strings.Contains(err.Error(), "plain HTTP") {
		t.Fatalf("no config: got %v, want a plain HTTP refusal", err)
	}
	if _, err := open(t, map[string]config.Registry{reg.Host: {Insecure: true}}).Pull(ctx, ref, nil); err != nil {
		t.Fatalf("insecure configured: %v", err)
	}
}

// TestPullCredentials: a private registry refuses a pull without or with
// wrong credentials, naming the reference and the refusal; the job's
// credentials or the configured ones let it through.
func TestPullCredentials(t *testing.T) {
	reg := ocitest.RegistryAuth(t, "ci", "s3cret")
	ctx := context.Background()
	img := ocitest.Image(t, v1.Config{}, ocitest.TarLayer(t, ocitest.Entry{Name: "f", Body: "x"}))
	if err := reg.Push(ctx, "team/private:1", img); err != nil {
		t.Fatal(err)
	}
	ref := reg.Host + "/team/private:1"
	insecure := map[string]config.Registry{reg.Host: {Insecure: true}}
	for _, c := range []struct {
		name  string
		regs  map[string]config.Registry
		creds *oci.Credentials
		ok    bool
	}{
		{"none", insecure, nil, false},
		{"wrong job credentials", insecure, &oci.Credentials{Username: "ci", Password: "nope"}, false},
		{"job credentials", insecure, &oci.Credentials{Username: "ci", Password: "s3cret"}, true},
		{"configured", map[string]config.Registry{reg.Host: {Insecure: true, Username: "ci", Password: "s3cret"}}, nil, true},
		{"job credentials win over configured", map[string]config.Registry{reg.Host: {Insecure: true, Username: "ci", Password: "s3cret"}},
			&oci.Credentials{Username: "ci", Password: "bad"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := open(t, c.regs).Pull(ctx, ref, c.creds)
			if c.ok && err != nil {
				t.Fatalf("got %v, want the pull to succeed", err)
			}
			if !c.ok && (err == nil || !strings.Contains(err.Error(), "refused the credentials (HTTP 401)") || !strings.Contains(err.Error(), ref)) {
				t.Fatalf("got %v, want a refusal naming %s", err, ref)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// TestPullMirrorFallback: a mirror that does not answer is skipped for the
// next one.
func TestPullMirrorFallback(t *testing.T) {
	reg := ocitest.Registry(t)
	ctx := context.Background()
	img := ocitest.Image(t, v1.Config{}, ocitest.TarLayer(t, ocitest.Entry{Name: "f", Body: "x"}))
	if err := reg.Push(ctx, "library/fb:1", img); err != nil {
		t.Fatal(err)
	}
	s := open(t, map[string]config.Registry{"docker.io": {Mirrors: []string{"http://127.0.0.1:1", reg.URL}}})
	if _, err := s.Pull(ctx, "fb:1", nil); err != nil {
		t.Fatalf("got %v, want the second mirror to serve it", err)
	}
}
