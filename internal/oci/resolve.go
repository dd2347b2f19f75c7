package oci

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/hookci/hookci/internal/config"
)

// resolved is a reference resolved to one platform image at one source.
type resolved struct {
	ref    string // normalised, as asked
	source string // where it was found (a mirror or the registry)
	digest string
	img    v1.Image
}

// normaliseRegistries keys the config by the registry names go-containerregistry
// uses: "docker.io" (and "registry-1.docker.io") are "index.docker.io".
func normaliseRegistries(in map[string]config.Registry) map[string]config.Registry {
	out := map[string]config.Registry{}
	for k, v := range in {
		out[registryKey(k)] = v
	}
	return out
}

func registryKey(host string) string {
	h := strings.ToLower(strings.TrimSuffix(host, "/"))
	switch h {
	case "docker.io", "registry-1.docker.io", "index.docker.io":
		return name.DefaultRegistry
	}
	return h
}

// ParseReference parses ref as Docker does ("postgres:16" is
// docker.io/library/postgres:16, no tag means ":latest"; see DisplayName).
func ParseReference(ref string) (name.Reference, error) {
	r, err := name.ParseReference(strings.TrimPrefix(ref, "docker://"))
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	return r, nil
}

// candidate is one place to try a reference: a mirror or the registry.
type candidate struct {
	ref      name.Reference
	insecure bool
}

// candidates lists the mirrors configured for ref's registry, then the
// registry itself.
func (s *Store) candidates(r name.Reference) ([]candidate, config.Registry, error) {
	host := r.Context().RegistryStr()
	rc := s.registries[registryKey(host)]
	var out []candidate
	for _, m := range rc.Mirrors {
		u, err := url.Parse(m)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, rc, fmt.Errorf("[registries.%q] mirror %q: want http://host[:port] or https://host[:port]", host, m)
		}
		insecure := u.Scheme == "http" || rc.Insecure
		var opts []name.Option
		if insecure {
			opts = append(opts, name.Insecure)
		}
		repo := strings.TrimPrefix(strings.TrimSuffix(u.Path, "/")+"/"+r.Context().RepositoryStr(), "/")
		mr, err := name.ParseReference(u.Host+"/"+repo+sep(r)+r.Identifier(), opts...)
		if err != nil {
			return nil, rc, fmt.Errorf("mirror %q for %s: %w", m, r, err)
		}
		out = append(out, candidate{ref: mr, insecure: insecure})
	}
	direct := r
	if rc.Insecure {
		var err error
		direct, err = name.ParseReference(r.String(), name.Insecure)
		if err != nil {
			return nil, rc, err
		}
	}
	out = append(out, candidate{ref: direct, insecure: rc.Insecure})
	return out, rc, nil
}

// DisplayName is r as Docker prints it: "docker.io/library/postgres:16".
func DisplayName(r name.Reference) string {
	n := r.Name()
	if rest, ok := strings.CutPrefix(n, name.DefaultRegistry+"/"); ok {
		return "docker.io/" + rest
	}
	return n
}

func sep(r name.Reference) string {
	if _, ok := r.(name.Digest); ok {
		return "@"
	}
	return ":"
}

// resolve finds ref's image for the store's platform, trying the mirrors
// first. Credentials: the job's, else the configured ones of the registry
// (mirrors get the configured ones of their own host, if any).
func (s *Store) resolve(ctx context.Context, ref string, creds *Credentials) (*resolved, error) {
	r, err := ParseReference(ref)
	if err != nil {
		return nil, err
	}
	if d, ok := r.(name.Digest); ok {
		if img, err := s.cached(d.DigestStr()); err == nil && img.Platform == platformString(s.platform) {
			return &resolved{ref: DisplayName(r), digest: d.DigestStr()}, nil
		}
	}
	cands, rc, err := s.candidates(r)
	if err != nil {
		return nil, err
	}
	var errs []error
	for i, c := range cands {
		if !c.insecure && c.ref.Context().Scheme() == "http" {
			errs = append(errs, fmt.Errorf("%s would be reached over plain HTTP: set insecure = true in [registries.%q] (or use an http:// mirror URL) to allow it",
				c.ref.Context().RegistryStr(), c.ref.Context().RegistryStr()))
			continue
		}
		auth := s.auth(c.ref, creds, rc, i == len(cands)-1)
		res, err := s.resolveAt(ctx, r, c, auth)
		if err == nil {
			return res, nil
		}
		var pe *PlatformError
		if errors.As(err, &pe) {
			return nil, err // the image is there: another source would not fit better
		}
		errs = append(errs, err)
		if i < len(cands)-1 {
			s.log.Warn("oci: mirror failed, trying next", "ref", r.Name(), "mirror", c.ref.Context().RegistryStr(), "err", err)
		}
	}
	return nil, fmt.Errorf("pull %s: %w", DisplayName(r), errors.Join(errs...))
}

func (s *Store) auth(r name.Reference, creds *Credentials, rc config.Registry, direct bool) authn.Authenticator {
	if creds != nil && (creds.Username != "" || creds.Password != "") {
		return &authn.Basic{Username: creds.Username, Password: creds.Password}
	}
	if !direct {
		if mc, ok := s.registries[registryKey(r.Context().RegistryStr())]; ok {
			rc = mc
		}
	}
	if rc.Username != "" || rc.Password != "" {
		return &authn.Basic{Username: rc.Username, Password: rc.Password}
	}
	return authn.Anonymous
}

func (s *Store) remoteOptions(ctx context.Context, c candidate, auth authn.Authenticator) []remote.Option {
	tr := remote.DefaultTransport.(*http.Transport).Clone()
	if c.insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // the operator said insecure
	}
	return []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(tr),
		remote.WithUserAgent("hookci")}
}

func (s *Store) resolveAt(ctx context.Context, orig name.Reference, c candidate, auth authn.Authenticator) (*resolved, error) {
	desc, err := remote.Get(c.ref, s.remoteOptions(ctx, c, auth)...)
	if err != nil {
		return nil, describeRemoteError(c.ref, err)
	}
	var img v1.Image
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.ref, err)
		}
		img, err = s.choosePlatform(orig, idx)
		if err != nil {
			return nil, err
		}
	} else {
		img, err = desc.Image()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.ref, err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("%s: config: %w", c.ref, err)
		}
		p := cf.Platform()
		if p == nil || !platformMatches(s.platform, *p) {
			got := "unknown"
			if p != nil {
				got = platformString(*p)
			}
			return nil, &PlatformError{Ref: DisplayName(orig), Want: platformString(s.platform), Have: []string{got}}
		}
	}
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.ref, err)
	}
	return &resolved{ref: DisplayName(orig), source: c.ref.Context().RegistryStr(), digest: d.String(), img: img}, nil
}

// PlatformError says an image has no variant for this host's platform.
type PlatformError struct {
	Ref  string
	Want string
	Have []string
}

func (e *PlatformError) Error() string {
	return fmt.Sprintf("image %s has no %s variant (it has: %s)", e.Ref, e.Want, strings.Join(e.Have, ", "))
}

func (s *Store) choosePlatform(r name.Reference, idx v1.ImageIndex) (v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%s: index: %w", r, err)
	}
	var have []string
	for _, d := range m.Manifests {
		if d.Platform == nil || !d.MediaType.IsImage() {
			continue
		}
		if d.Platform.OS == "unknown" { // attestations
			continue
		}
		if platformMatches(s.platform, *d.Platform) {
			return idx.Image(d.Digest)
		}
		have = append(have, platformString(*d.Platform))
	}
	sort.Strings(have)
	return nil, &PlatformError{Ref: DisplayName(r), Want: platformString(s.platform), Have: have}
}

func platformMatches(want, got v1.Platform) bool {
	return want.OS == got.OS && want.Architecture == got.Architecture &&
		(want.Variant == "" || want.Variant == got.Variant)
}

func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// describeRemoteError turns a registry answer into a sentence naming the
// reference (401/403: credentials; 404: no such image or tag).
func describeRemoteError(r name.Reference, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%s: the registry refused the credentials (HTTP %d): %w", r, te.StatusCode, err)
		case http.StatusNotFound:
			return fmt.Errorf("%s: no such image or tag (HTTP 404): %w", r, err)
		}
	}
	return fmt.Errorf("%s: %w", r, err)
}
