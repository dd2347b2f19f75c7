package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/singleflight"

	"github.com/hookci/hookci/internal/config"
)

// Credentials are a job's credentials: for an image (GitHub's
// container.credentials / services.<id>.credentials). They win over the
// configured ones of the registry.
type Credentials struct {
	Username string
	Password string
}

// Image is a pulled image for one platform, unpacked on this host.
type Image struct {
	// Ref is the normalised reference it was pulled by
	// ("docker.io/library/postgres:16").
	Ref string `json:"ref"`
	// Digest is the platform image's manifest digest ("sha256:…"), the
	// identity of everything cached for it.
	Digest string `json:"digest"`
	// Platform is where it runs, "linux/amd64" (variant appended if any).
	Platform string `json:"platform"`
	// Config is what the image says about how to run it.
	Config ImageConfig `json:"config"`
	// RootFS is the unpacked root filesystem: a host directory owned by
	// root that the sandbox must bind read-only (never write into it).
	RootFS string `json:"rootfs"`
	// Size is the bytes of the compressed layers.
	Size int64 `json:"size"`

	store *Store
	dir   string
}

// ImageConfig is the part of the OCI image config a runner uses.
type ImageConfig struct {
	Env          []string          `json:"env,omitempty"`
	User         string            `json:"user,omitempty"`
	WorkingDir   string            `json:"working_dir,omitempty"`
	Entrypoint   []string          `json:"entrypoint,omitempty"`
	Cmd          []string          `json:"cmd,omitempty"`
	Healthcheck  *Healthcheck      `json:"healthcheck,omitempty"`
	ExposedPorts []string          `json:"exposed_ports,omitempty"` // "5432/tcp"
	Labels       map[string]string `json:"labels,omitempty"`
	Volumes      []string          `json:"volumes,omitempty"`
	StopSignal   string            `json:"stop_signal,omitempty"`
}

// Healthcheck is the image's HEALTHCHECK (Docker's config extension).
type Healthcheck struct {
	// Test is ["CMD", args…], ["CMD-SHELL", command] or ["NONE"].
	Test        []string      `json:"test,omitempty"`
	Interval    time.Duration `json:"interval,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`
	StartPeriod time.Duration `json:"start_period,omitempty"`
	Retries     int           `json:"retries,omitempty"`
}

// Store pulls and caches images under DATA_DIR/oci. It is safe for
// concurrent use, and several processes (hosts sharing a data directory,
// tests) may share one directory: work on the same digest is serialized by
// flocks, and within a process concurrent pulls of one image share work.
type Store struct {
	root       string
	registries map[string]config.Registry
	platform   v1.Platform
	log        *slog.Logger
	flight     singleflight.Group

	dirsMu   sync.Mutex // guards dirsMade
	dirsMade bool
}

// Option changes a Store.
type Option func(*Store)

// WithLogger sets where the store logs pulls and pruning.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// WithPlatform chooses another platform than the host's (tests).
func WithPlatform(p v1.Platform) Option { return func(s *Store) { s.platform = p } }

// Open opens (creating) the image store under dataDir/oci with the
// [registries] configuration.
func Open(dataDir string, registries map[string]config.Registry, opts ...Option) (*Store, error) {
	if dataDir == "" {
		return nil, errors.New("oci: empty data directory")
	}
	s := &Store{
		root:       filepath.Join(dataDir, "oci"),
		registries: normaliseRegistries(registries),
		platform:   v1.Platform{OS: "linux", Architecture: runtime.GOARCH},
		log:        slog.Default(),
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// ensureDirs makes the store's directories (private to the server) on the
// first pull, build or prune, not at Open: a run that uses no image (every
// `hookci run` without containers) makes and removes none of them, which
// on a slow file system was ~3 ms of CPU a run (CPU profile of 25 runs).
func (s *Store) ensureDirs() error {
	s.dirsMu.Lock()
	defer s.dirsMu.Unlock()
	if s.dirsMade {
		return nil
	}
	for _, d := range []string{"", "blobs/sha256", "images", "refs", "locks", "tmp"} {
		if err := os.MkdirAll(filepath.Join(s.root, d), 0o700); err != nil {
			return fmt.Errorf("oci: %w", err)
		}
	}
	if err := os.Chmod(s.root, 0o700); err != nil {
		return fmt.Errorf("oci: %w", err)
	}
	s.dirsMade = true
	return nil
}

// Root is the store's directory (DATA_DIR/oci).
func (s *Store) Root() string { return s.root }

// Pull resolves ref (Docker's short forms allowed: "postgres:16" is
// docker.io/library/postgres:16), picks the host's platform, downloads the
// layers it lacks (verifying every digest), and returns the image unpacked.
// Concurrent pulls of one reference in this process share one pull; pulls of
// one digest across processes serialize on a lock. creds may be nil.
func (s *Store) Pull(ctx context.Context, ref string, creds *Credentials) (*Image, error) {
	if err := s.ensureDirs(); err != nil {
		return nil, err
	}
	key := ref
	if creds != nil {
		key += "\x00" + creds.Username + "\x00" + creds.Password
	}
	ch := s.flight.DoChan(key, func() (any, error) {
		// The pull outlives one caller's cancellation only as long as
		// another waits; the first caller's ctx bounds it.
		return s.pull(ctx, ref, creds)
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("pull %s: %w", ref, ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		img := *r.Val.(*Image)
		return &img, nil
	}
}

func (s *Store) pull(ctx context.Context, ref string, creds *Credentials) (*Image, error) {
	if digest, ok := strings.CutPrefix(ref, BuiltPrefix); ok { // build.go
		img, err := s.cached(digest)
		if err != nil {
			return nil, fmt.Errorf("image %s: built on this host but no longer in its cache; run the job again to rebuild it", ref)
		}
		s.touch(img)
		return img, nil
	}
	r, err := s.resolve(ctx, ref, creds)
	if err != nil {
		return nil, err
	}
	if img, err := s.cached(r.digest); err == nil {
		s.touch(img)
		return img, nil
	}
	unlock, err := s.lock(ctx, "image-"+hexOf(r.digest))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if img, err := s.cached(r.digest); err == nil { // unpacked by another process meanwhile
		return img, nil
	}
	return s.fetch(ctx, r)
}

// Get returns the image of digest ("sha256:…") if it is in the cache.
func (s *Store) Get(digest string) (*Image, error) { return s.cached(digest) }

func (s *Store) cached(digest string) (*Image, error) {
	dir := filepath.Join(s.root, "images", hexOf(digest))
	data, err := os.ReadFile(filepath.Join(dir, "image.json"))
	if err != nil {
		return nil, err
	}
	img := &Image{}
	if err := json.Unmarshal(data, img); err != nil {
		return nil, fmt.Errorf("oci: %s: %w", dir, err)
	}
	img.store, img.dir = s, dir
	img.RootFS = filepath.Join(dir, "rootfs")
	return img, nil
}

// touch records a use (pruning removes the least recently used first).
func (s *Store) touch(img *Image) {
	now := time.Now()
	os.Chtimes(filepath.Join(img.dir, "image.json"), now, now)
}

func hexOf(digest string) string { return strings.TrimPrefix(digest, "sha256:") }
