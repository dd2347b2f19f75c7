package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// fetch downloads r's layers into the blob cache and unpacks them into
// images/<hex>/rootfs. The caller holds the image's lock.
func (s *Store) fetch(ctx context.Context, r *resolved) (*Image, error) {
	start := time.Now()
	cf, err := r.img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("pull %s: config: %w", r.ref, err)
	}
	layers, err := r.img.Layers()
	if err != nil {
		return nil, fmt.Errorf("pull %s: layers: %w", r.ref, err)
	}
	if len(cf.RootFS.DiffIDs) != len(layers) {
		return nil, fmt.Errorf("pull %s: the config lists %d layers, the manifest %d", r.ref, len(cf.RootFS.DiffIDs), len(layers))
	}
	var size int64
	blobs := make([]string, len(layers))
	for i, l := range layers {
		p, n, err := s.blob(ctx, l)
		if err != nil {
			return nil, fmt.Errorf("pull %s: layer %d: %w", r.ref, i+1, err)
		}
		blobs[i], size = p, size+n
	}
	dir := filepath.Join(s.root, "images", hexOf(r.digest))
	stage, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "image-"+hexOf(r.digest)[:16]+"-")
	if err != nil {
		return nil, fmt.Errorf("oci: %w", err)
	}
	defer os.RemoveAll(stage)
	rootfs := filepath.Join(stage, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return nil, fmt.Errorf("oci: %w", err)
	}
	for i, p := range blobs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.unpackBlob(p, cf.RootFS.DiffIDs[i], rootfs); err != nil {
			return nil, fmt.Errorf("pull %s: layer %d (%s): %w", r.ref, i+1, filepath.Base(p)[:12], err)
		}
	}
	img := &Image{
		Ref:      r.ref,
		Digest:   r.digest,
		Platform: platformString(s.platform),
		Config:   imageConfig(cf.Config),
		Size:     size,
	}
	data, err := json.MarshalIndent(img, "", "  ")
	if err != nil {
		return nil, err
	}
	var names []byte
	for _, p := range blobs {
		names = append(names, filepath.Base(p)+"\n"...)
	}
	if err := os.WriteFile(filepath.Join(stage, "layers"), names, 0o644); err != nil {
		return nil, fmt.Errorf("oci: %w", err)
	}
	if err := os.WriteFile(filepath.Join(stage, "image.json"), data, 0o644); err != nil {
		return nil, fmt.Errorf("oci: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil { // a half-removed image left by a crashed prune
		return nil, fmt.Errorf("oci: %w", err)
	}
	if err := os.Rename(stage, dir); err != nil {
		return nil, fmt.Errorf("oci: %w", err)
	}
	s.log.Info("oci: pulled", "ref", r.ref, "source", r.source, "digest", r.digest, "layers", len(layers),
		"bytes", size, "took", time.Since(start).Round(time.Millisecond))
	return s.cached(r.digest)
}

// blob makes sure layer l is in blobs/sha256 (downloaded once, its digest
// checked) and returns its path and size.
func (s *Store) blob(ctx context.Context, l v1.Layer) (string, int64, error) {
	d, err := l.Digest()
	if err != nil {
		return "", 0, err
	}
	if d.Algorithm != "sha256" || len(d.Hex) != 64 {
		return "", 0, fmt.Errorf("unsupported layer digest %s", d)
	}
	final := filepath.Join(s.root, "blobs", "sha256", d.Hex)
	if fi, err := os.Stat(final); err == nil {
		now := time.Now()
		os.Chtimes(final, now, now)
		return final, fi.Size(), nil
	}
	unlock, err := s.lock(ctx, "blob-"+d.Hex)
	if err != nil {
		return "", 0, err
	}
	defer unlock()
	if fi, err := os.Stat(final); err == nil {
		return final, fi.Size(), nil
	}
	rc, err := l.Compressed()
	if err != nil {
		return "", 0, err
	}
	defer rc.Close()
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "blob-")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, rc})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, fmt.Errorf("download %s: %w", d, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != d.Hex {
		return "", 0, fmt.Errorf("layer %s: the registry sent content with digest sha256:%s", d, got)
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return "", 0, err
	}
	return final, n, nil
}

// unpackBlob applies the layer blob at p onto rootfs, checking that the
// uncompressed tar has the config's diff id.
func (s *Store) unpackBlob(p string, diffID v1.Hash, rootfs string) error {
	l, err := tarball.LayerFromFile(p)
	if err != nil {
		return err
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	if err := unpackLayer(io.TeeReader(rc, h), rootfs, s.log); err != nil {
		return err
	}
	io.Copy(h, rc) // tar padding after the end marker
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != diffID.String() {
		return fmt.Errorf("uncompressed layer has digest %s, the config says %s", got, diffID)
	}
	return nil
}

func imageConfig(c v1.Config) ImageConfig {
	out := ImageConfig{
		Env: c.Env, User: c.User, WorkingDir: c.WorkingDir,
		Entrypoint: c.Entrypoint, Cmd: c.Cmd, Labels: c.Labels, StopSignal: c.StopSignal,
	}
	if c.Healthcheck != nil {
		out.Healthcheck = &Healthcheck{Test: c.Healthcheck.Test, Interval: c.Healthcheck.Interval,
			Timeout: c.Healthcheck.Timeout, StartPeriod: c.Healthcheck.StartPeriod, Retries: c.Healthcheck.Retries}
	}
	for p := range c.ExposedPorts {
		out.ExposedPorts = append(out.ExposedPorts, p)
	}
	sort.Strings(out.ExposedPorts)
	for v := range c.Volumes {
		out.Volumes = append(out.Volumes, v)
	}
	sort.Strings(out.Volumes)
	return out
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// lock takes an exclusive flock on locks/name.lock, polling so that ctx can
// cancel the wait. The returned func releases it.
func (s *Store) lock(ctx context.Context, name string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.root, "locks", name+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("oci: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("oci: lock %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("oci: waiting for lock %s: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
