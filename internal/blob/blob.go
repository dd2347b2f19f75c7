// Package blob keeps the large opaque objects hookci stores for jobs —
// artifact zips, actions/cache archives and their small JSON descriptions —
// behind one interface with two implementations: a directory on the host
// (Dir: one host, the default) and an S3-compatible bucket (S3: several
// hosts sharing one store). Open picks one from the configured URL.
//
// Keys are slash-separated paths ("artifacts/42/dist.json"); Put streams
// (no whole-object buffering), computes the SHA-256 of what it stored and
// makes the object visible only once it is complete.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"
)

// Store keeps objects by key. Implementations are safe for concurrent use.
type Store interface {
	// Put stores what r yields under key, replacing any object there, and
	// returns its size and SHA-256. A failed Put leaves the previous object
	// (or none) in place.
	Put(ctx context.Context, key string, r io.Reader) (Info, error)
	// Open returns the object at key; a missing one is an error wrapping
	// fs.ErrNotExist.
	Open(ctx context.Context, key string) (Object, error)
	// Stat describes the object at key (Info.SHA256 may be empty); a
	// missing one is an error wrapping fs.ErrNotExist.
	Stat(ctx context.Context, key string) (Info, error)
	// List returns the objects whose keys start with prefix, by key.
	List(ctx context.Context, prefix string) ([]Info, error)
	// Delete removes the object at key; a missing one is not an error.
	Delete(ctx context.Context, key string) error
	// String says where the objects are (no credentials).
	String() string
}

// Object is a stored object open for reading, sequentially or at offsets
// (zip readers, HTTP range requests).
type Object interface {
	io.ReadSeekCloser
	io.ReaderAt
	// Size is the object's length in bytes.
	Size() int64
}

// Info describes a stored object.
type Info struct {
	Key      string
	Size     int64
	Modified time.Time
	// SHA256 is the hex SHA-256 of the content, set by Put.
	SHA256 string
}

// ErrChecksum is returned by a reader from Verify when the content does not
// match the checksum recorded when it was stored.
var ErrChecksum = errors.New("blob: content does not match its recorded sha256")

// CheckKey refuses keys that are not clean relative slash paths.
func CheckKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") ||
		path.Clean(key) != key || key == ".." || strings.HasPrefix(key, "../") ||
		strings.ContainsAny(key, "\\\x00") {
		return fmt.Errorf("blob: bad key %q", key)
	}
	return nil
}

// Write stores under key what write writes, streaming it through a pipe.
func Write(ctx context.Context, s Store, key string, write func(w io.Writer) error) (Info, error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := write(pw)
		pw.CloseWithError(err)
		done <- err
	}()
	info, err := s.Put(ctx, key, pr)
	// A Put that stopped reading early must not leave the writer blocked.
	pr.CloseWithError(errUploadEnded)
	werr := <-done
	if err != nil {
		return info, err // it carries the writer's error when that ended the upload
	}
	if werr != nil {
		return info, werr
	}
	return info, nil
}

var errUploadEnded = errors.New("blob: the upload ended before everything was written")

// Verify returns a reader of r that fails with ErrChecksum at its end when
// what it read does not hash to want (hex SHA-256). An empty want checks
// nothing (objects stored before checksums were recorded).
func Verify(r io.Reader, want string) io.Reader {
	if want == "" {
		return r
	}
	return &verifier{r: r, h: sha256.New(), want: strings.TrimPrefix(want, "sha256:")}
}

type verifier struct {
	r    io.Reader
	h    hash.Hash
	want string
}

func (v *verifier) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			return n, fmt.Errorf("%w (got %s, want %s)", ErrChecksum, got, v.want)
		}
	}
	return n, err
}

// counter hashes and counts what is read through it.
type counter struct {
	r io.Reader
	h hash.Hash
	n int64
}

func newCounter(r io.Reader) *counter { return &counter{r: r, h: sha256.New()} }

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

func (c *counter) sum() string { return hex.EncodeToString(c.h.Sum(nil)) }

// notExist wraps fs.ErrNotExist for key.
func notExist(key string) error { return fmt.Errorf("blob %q: %w", key, fs.ErrNotExist) }

// Sub returns the part of s under prefix ("artifacts"): keys given to it are
// stored as prefix+"/"+key, and List returns them without the prefix.
func Sub(s Store, prefix string) Store {
	return &sub{s: s, p: strings.Trim(prefix, "/") + "/"}
}

type sub struct {
	s Store
	p string
}

func (b *sub) Put(ctx context.Context, key string, r io.Reader) (Info, error) {
	i, err := b.s.Put(ctx, b.p+key, r)
	i.Key = strings.TrimPrefix(i.Key, b.p)
	return i, err
}

func (b *sub) Open(ctx context.Context, key string) (Object, error) { return b.s.Open(ctx, b.p+key) }

func (b *sub) Stat(ctx context.Context, key string) (Info, error) {
	i, err := b.s.Stat(ctx, b.p+key)
	i.Key = strings.TrimPrefix(i.Key, b.p)
	return i, err
}

func (b *sub) List(ctx context.Context, prefix string) ([]Info, error) {
	l, err := b.s.List(ctx, b.p+prefix)
	for i := range l {
		l[i].Key = strings.TrimPrefix(l[i].Key, b.p)
	}
	return l, err
}

func (b *sub) Delete(ctx context.Context, key string) error { return b.s.Delete(ctx, b.p+key) }

func (b *sub) String() string { return b.s.String() + " under " + b.p }
