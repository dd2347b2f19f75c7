package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// tmpDir is where Dir writes objects before renaming them into place; it is
// under the root so that the rename stays on one file system.
const tmpDir = ".blob-tmp"

// Dir is a Store in a directory of the host: key a/b/c is the file
// <root>/a/b/c. It is what one host uses, and the layout hookci has always
// had under its data directory.
type Dir struct {
	root string
}

// NewDir returns the store kept in root (created on the first Put).
func NewDir(root string) *Dir { return &Dir{root: root} }

func (d *Dir) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// Put writes r to a temporary file and renames it to key.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader) (Info, error) {
	p, err := d.path(key)
	if err != nil {
		return Info{}, err
	}
	tmp := filepath.Join(d.root, tmpDir)
	var f *os.File
	for try := 0; ; try++ {
		if err = os.MkdirAll(tmp, 0o755); err == nil {
			f, err = os.CreateTemp(tmp, "put-*")
		}
		// Another Put may remove the directory between the two calls.
		if err == nil || !errors.Is(err, fs.ErrNotExist) || try == 3 {
			break
		}
	}
	if err != nil {
		return Info{}, fmt.Errorf("blob dir: %w", err)
	}
	defer os.Remove(tmp) // when no other Put uses it: a store's directory holds only objects
	defer os.Remove(f.Name())
	c := newCounter(r)
	_, err = io.Copy(f, ctxReader{ctx, c})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Info{}, fmt.Errorf("blob dir: writing %s: %w", key, err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return Info{}, fmt.Errorf("blob dir: %w", err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return Info{}, fmt.Errorf("blob dir: %w", err)
	}
	info := Info{Key: key, Size: c.n, SHA256: c.sum()}
	if fi, err := os.Stat(p); err == nil {
		info.Modified = fi.ModTime()
	}
	return info, nil
}

// ctxReader stops a copy when ctx ends.
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

type dirObject struct {
	*os.File
	size int64
}

func (o dirObject) Size() int64 { return o.size }

// Open opens the file of key.
func (d *Dir) Open(ctx context.Context, key string) (Object, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", fs.ErrNotExist, err)
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notExist(key)
	}
	if err != nil {
		return nil, fmt.Errorf("blob dir: %w", err)
	}
	fi, err := f.Stat()
	if err != nil || fi.IsDir() {
		f.Close()
		return nil, notExist(key)
	}
	return dirObject{f, fi.Size()}, nil
}

// Stat describes the file of key.
func (d *Dir) Stat(ctx context.Context, key string) (Info, error) {
	p, err := d.path(key)
	if err != nil {
		return Info{}, fmt.Errorf("%w: %v", fs.ErrNotExist, err)
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.IsDir()) {
		return Info{}, notExist(key)
	}
	if err != nil {
		return Info{}, fmt.Errorf("blob dir: %w", err)
	}
	return Info{Key: key, Size: fi.Size(), Modified: fi.ModTime()}, nil
}

// List walks the directory holding prefix.
func (d *Dir) List(ctx context.Context, prefix string) ([]Info, error) {
	base := d.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		if err := CheckKey(prefix[:i]); err != nil {
			return nil, err
		}
		base = filepath.Join(d.root, filepath.FromSlash(prefix[:i]))
	}
	var out []Info
	err := filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() {
			if e.Name() == tmpDir && filepath.Dir(p) == d.root {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) || !e.Type().IsRegular() {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		out = append(out, Info{Key: key, Size: fi.Size(), Modified: fi.ModTime()})
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("blob dir: listing %q: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete removes the file of key and the directories it leaves empty.
func (d *Dir) Delete(ctx context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob dir: %w", err)
	}
	for dir := filepath.Dir(p); dir != d.root && strings.HasPrefix(dir, d.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil { // not empty (or gone): stop
			break
		}
	}
	return nil
}

// String is the directory.
func (d *Dir) String() string { return "directory " + d.root }
