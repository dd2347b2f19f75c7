// Package artifact keeps the artifacts runs upload
// (actions/upload-artifact): one zip per artifact, the format GitHub serves
// them in, with its metadata beside it, under a directory per run. The
// action runner writes them, the web package serves them.
package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/blob"
)

// Store keeps the artifacts of runs in a blob store, one zip per artifact
// (the format GitHub serves them in) and its metadata beside it:
// <run id>/<name>.json and <run id>/<name>.<artifact id>.zip (artifacts
// stored before the blob store kept <name>.zip). With an S3 blob store every
// host sharing the bucket sees every artifact.
type Store struct {
	b  blob.Store
	mu sync.Mutex // guards creating and replacing artifacts on this host
}

// New returns the store kept in b.
func New(b blob.Store) *Store { return &Store{b: b} }

// NewStore returns the store kept in the host directory dir.
func NewStore(dir string) *Store { return New(blob.NewDir(dir)) }

// Artifact describes one stored artifact.
type Artifact struct {
	ID      int64     `json:"id"`
	RunID   int64     `json:"run_id"`
	Repo    string    `json:"repo"`
	Name    string    `json:"name"`
	Size    int64     `json:"size"`   // bytes of the zip
	Digest  string    `json:"digest"` // sha256:<hex> of the zip
	Files   int       `json:"files"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"`
}

// ValidName checks a name as GitHub does (no path separators or
// characters some file systems refuse).
func ValidName(name string) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("artifact name is empty")
	}
	if i := strings.IndexAny(name, "\":<>|*?\r\n\\/"); i >= 0 {
		//lint:ignore ST1005 upload-artifact's wording, shown in the step log
		return fmt.Errorf("The artifact name is not valid: %s. Contains the following character: %q. Invalid characters include: \", :, <, >, |, *, ?, \\r, \\n, \\, /", name, name[i])
	}
	if name == "." || name == ".." {
		//lint:ignore ST1005 upload-artifact's wording, shown in the step log
		return fmt.Errorf("The artifact name is not valid: %s", name)
	}
	return nil
}

func metaKey(runID int64, name string) string {
	return strconv.FormatInt(runID, 10) + "/" + name + ".json"
}

func zipKey(a Artifact) string {
	return strconv.FormatInt(a.RunID, 10) + "/" + a.Name + "." + strconv.FormatInt(a.ID, 10) + ".zip"
}

// List returns the artifacts of a run, by name.
func (s *Store) List(ctx context.Context, runID int64) ([]Artifact, error) {
	objs, err := s.b.List(ctx, strconv.FormatInt(runID, 10)+"/")
	if err != nil {
		return nil, fmt.Errorf("listing the artifacts of run %d: %w", runID, err)
	}
	var out []Artifact
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		name := strings.TrimSuffix(path.Base(o.Key), ".json")
		if a, err := s.meta(ctx, runID, name); err == nil {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// maxMeta bounds what is read of an artifact's metadata.
const maxMeta = 1 << 20

func (s *Store) meta(ctx context.Context, runID int64, name string) (Artifact, error) {
	var a Artifact
	o, err := s.b.Open(ctx, metaKey(runID, name))
	if err != nil {
		return a, err
	}
	defer o.Close()
	b, err := io.ReadAll(io.LimitReader(o, maxMeta))
	if err != nil {
		return a, err
	}
	return a, json.Unmarshal(b, &a)
}

// Stat returns the metadata of a run's artifact; a missing one is an error
// wrapping fs.ErrNotExist.
func (s *Store) Stat(ctx context.Context, runID int64, name string) (Artifact, error) {
	if err := ValidName(name); err != nil {
		return Artifact{}, fmt.Errorf("%w: %v", fs.ErrNotExist, err)
	}
	a, err := s.meta(ctx, runID, name)
	if err != nil {
		return a, fmt.Errorf("artifact %q of run %d: %w", name, runID, err)
	}
	return a, nil
}

// Open returns the zip of a run's artifact; a missing one is an error
// wrapping fs.ErrNotExist.
func (s *Store) Open(ctx context.Context, runID int64, name string) (blob.Object, Artifact, error) {
	if err := ValidName(name); err != nil {
		return nil, Artifact{}, fmt.Errorf("%w: %v", fs.ErrNotExist, err)
	}
	a, err := s.meta(ctx, runID, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, a, fmt.Errorf("artifact %q of run %d: %w", name, runID, fs.ErrNotExist)
	}
	if err != nil {
		return nil, a, fmt.Errorf("artifact %q of run %d: %w", name, runID, err)
	}
	o, err := s.b.Open(ctx, zipKey(a))
	if errors.Is(err, fs.ErrNotExist) { // stored before the blob store: <name>.zip
		o, err = s.b.Open(ctx, strconv.FormatInt(runID, 10)+"/"+name+".zip")
	}
	if err != nil {
		return nil, a, fmt.Errorf("artifact %q of run %d: %w", name, runID, err)
	}
	return o, a, nil
}

// Fetch copies a run's artifact into a new file in dir, checking it against
// the digest recorded at upload, and returns that file (already unlinked:
// closing it frees the space) at offset 0.
func (s *Store) Fetch(ctx context.Context, runID int64, name, dir string) (*os.File, Artifact, error) {
	o, a, err := s.Open(ctx, runID, name)
	if err != nil {
		return nil, a, err
	}
	defer o.Close()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, a, err
	}
	f, err := os.CreateTemp(dir, "artifact-*")
	if err != nil {
		return nil, a, err
	}
	os.Remove(f.Name())
	if _, err := io.Copy(f, blob.Verify(o, a.Digest)); err != nil {
		f.Close()
		return nil, a, fmt.Errorf("artifact %q of run %d: %w", name, runID, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, a, err
	}
	return f, a, nil
}

// ErrExists is returned when an artifact name is taken and overwrite is off
// (in GitHub's words, which the upload step shows).
//
//lint:ignore ST1005 upload-artifact's wording, shown in the step log
var ErrExists = errors.New("Failed to CreateArtifact: Received non-retryable error: Failed request: (409) Conflict: an artifact with this name already exists on the workflow run")

// Put stores an artifact, streaming the zip that write writes to the blob
// store; write returns its number of files and the sha256 (hex) it computed,
// checked against what the store received (empty: not checked). Size,
// Digest, Files, Created and ID are set in a. The metadata is written last,
// so a failed upload leaves no artifact (and an earlier one of the same
// name in place).
func (s *Store) Put(ctx context.Context, a *Artifact, overwrite bool, write func(w io.Writer) (files int, digest string, err error)) error {
	if err := ValidName(a.Name); err != nil {
		return err
	}
	exists := func() bool {
		_, err := s.b.Stat(ctx, metaKey(a.RunID, a.Name))
		return err == nil
	}
	if !overwrite && exists() {
		return ErrExists
	}
	a.ID = time.Now().UnixNano() / 1000
	key := zipKey(*a)
	var files int
	var digest string
	info, err := blob.Write(ctx, s.b, key, func(w io.Writer) error {
		var err error
		files, digest, err = write(w)
		return err
	})
	if err == nil && digest != "" && digest != info.SHA256 {
		err = fmt.Errorf("artifact %s: the store received content with sha256 %s, the upload sent %s", a.Name, info.SHA256, digest)
	}
	if err != nil {
		s.b.Delete(context.WithoutCancel(ctx), key)
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, oldErr := s.meta(ctx, a.RunID, a.Name)
	if oldErr == nil && !overwrite {
		s.b.Delete(context.WithoutCancel(ctx), key)
		return ErrExists
	}
	a.Size, a.Digest, a.Files, a.Created = info.Size, "sha256:"+info.SHA256, files, time.Now()
	b, _ := json.MarshalIndent(a, "", "  ")
	if _, err := s.b.Put(ctx, metaKey(a.RunID, a.Name), bytes.NewReader(b)); err != nil {
		s.b.Delete(context.WithoutCancel(ctx), key)
		return fmt.Errorf("artifact %s: %w", a.Name, err)
	}
	if oldErr == nil && old.ID != a.ID {
		s.deleteZips(ctx, old)
	}
	return nil
}

// deleteZips removes an artifact's zip (either layout).
func (s *Store) deleteZips(ctx context.Context, a Artifact) error {
	return errors.Join(s.b.Delete(ctx, zipKey(a)), s.b.Delete(ctx, strconv.FormatInt(a.RunID, 10)+"/"+a.Name+".zip"))
}

// Add stores a zip read from r as artifact name of a run (replacing one of
// the same name), for imports and tests; uploads from jobs go through
// actions/upload-artifact.
func (s *Store) Add(ctx context.Context, runID int64, repo, name string, r io.Reader) (Artifact, error) {
	a := &Artifact{RunID: runID, Repo: repo, Name: name}
	err := s.Put(ctx, a, true, func(w io.Writer) (int, string, error) {
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(w, h), r); err != nil {
			return 0, "", err
		}
		return 0, hex.EncodeToString(h.Sum(nil)), nil
	})
	return *a, err
}
