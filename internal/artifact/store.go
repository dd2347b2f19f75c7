// Package artifact keeps the artifacts runs upload
// (actions/upload-artifact): one zip per artifact, the format GitHub serves
// them in, with its metadata beside it, under a directory per run. The
// action runner writes them, the web package serves them.
package artifact

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Store keeps the artifacts of runs, one zip per artifact (the
// format GitHub serves them in): <dir>/<run id>/<name>.zip and <name>.json.
type Store struct {
	dir string
	mu  sync.Mutex // guards creating and replacing artifacts
}

// NewStore returns the store kept in dir (created on the first upload).
func NewStore(dir string) *Store { return &Store{dir: dir} }

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

func (s *Store) runDir(runID int64) string {
	return filepath.Join(s.dir, strconv.FormatInt(runID, 10))
}

// List returns the artifacts of a run, by name.
func (s *Store) List(runID int64) ([]Artifact, error) {
	ents, err := os.ReadDir(s.runDir(runID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Artifact
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		if a, err := s.meta(runID, strings.TrimSuffix(e.Name(), ".json")); err == nil {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *Store) meta(runID int64, name string) (Artifact, error) {
	var a Artifact
	b, err := os.ReadFile(filepath.Join(s.runDir(runID), name+".json"))
	if err != nil {
		return a, err
	}
	return a, json.Unmarshal(b, &a)
}

// Open returns the zip of a run's artifact; a missing one is an error
// wrapping fs.ErrNotExist.
func (s *Store) Open(runID int64, name string) (*os.File, Artifact, error) {
	if err := ValidName(name); err != nil {
		return nil, Artifact{}, fmt.Errorf("%w: %v", fs.ErrNotExist, err)
	}
	a, err := s.meta(runID, name)
	if err != nil {
		return nil, a, fmt.Errorf("artifact %q of run %d: %w", name, runID, fs.ErrNotExist)
	}
	f, err := os.Open(filepath.Join(s.runDir(runID), name+".zip"))
	if err != nil {
		return nil, a, fmt.Errorf("artifact %q of run %d: %w", name, runID, err)
	}
	return f, a, nil
}

// ErrExists is returned when an artifact name is taken and overwrite is off
// (in GitHub's words, which the upload step shows).
//
//lint:ignore ST1005 upload-artifact's wording, shown in the step log
var ErrExists = errors.New("Failed to CreateArtifact: Received non-retryable error: Failed request: (409) Conflict: an artifact with this name already exists on the workflow run")

// Put stores an artifact; write writes the zip and returns its number of
// files and its sha256 (hex). Size, Digest, Files, Created and ID are set
// in a.
func (s *Store) Put(a *Artifact, overwrite bool, write func(w io.Writer) (files int, digest string, err error)) error {
	if err := ValidName(a.Name); err != nil {
		return err
	}
	dir := s.runDir(a.RunID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, a.Name+".json")); err == nil && !overwrite {
		return ErrExists
	}
	tmp, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	files, digest, err := write(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fi, err := os.Stat(tmp.Name())
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := os.Stat(filepath.Join(dir, a.Name+".json")); err == nil && !overwrite {
		return ErrExists
	}
	a.Size, a.Digest, a.Files, a.Created = fi.Size(), "sha256:"+digest, files, time.Now()
	a.ID = time.Now().UnixNano() / 1000
	if err := os.Rename(tmp.Name(), filepath.Join(dir, a.Name+".zip")); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(a, "", "  ")
	return os.WriteFile(filepath.Join(dir, a.Name+".json"), b, 0o644)
}

// Add stores a zip read from r as artifact name of a run (replacing one of
// the same name), for imports and tests; uploads from jobs go through
// actions/upload-artifact.
func (s *Store) Add(runID int64, repo, name string, r io.Reader) (Artifact, error) {
	a := &Artifact{RunID: runID, Repo: repo, Name: name}
	err := s.Put(a, true, func(w io.Writer) (int, string, error) {
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(w, h), r); err != nil {
			return 0, "", err
		}
		return 0, hex.EncodeToString(h.Sum(nil)), nil
	})
	return *a, err
}
