package actions

import (
	"archive/tar"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/runner"
)

// Downloads of setup-go and setup-node: when the tool cache lacks a version
// and the job has egress, the version is looked up in the official
// distribution index (or the configured one), downloaded by hookci, checked
// against the index's sha256 and added to the tool cache in GitHub's
// hostedtoolcache layout (<tool>/<version>/<arch>/ and <arch>.complete).

// Official distribution indexes.
const (
	defaultGoDist     = "https://go.dev/dl/"
	defaultNodeDist   = "https://nodejs.org/dist/"
	defaultPythonDist = "https://raw.githubusercontent.com/actions/python-versions/main/versions-manifest.json"
	maxToolArchive    = 1 << 30 // refuse an archive larger than 1 GiB
)

// release is one downloadable version found in an index.
type release struct {
	version string // as the tool cache names it: 1.22.5, 20.15.1
	url     string
	sha256  string // hex
	strip   string // the archive's top directory, stripped ("": none)
	// noChecksum: the index gives none (Python's manifest); the archive is
	// checked by finish instead of a sha256.
	noChecksum bool
	finish     func(dir string) error // checks and completes the extracted tree
}

// indexURL is where t's index is, for messages.
func (r *Executor) indexURL(t *tool) string {
	switch t {
	case goTool:
		return cmp.Or(r.cfg.Dist.Go, defaultGoDist) + "?mode=json&include=all"
	case nodeTool:
		return strings.TrimSuffix(cmp.Or(r.cfg.Dist.Node, defaultNodeDist), "/") + "/index.json"
	}
	return cmp.Or(r.cfg.Dist.Python, defaultPythonDist)
}

// getJSON fetches url into v.
func getJSON(ctx context.Context, url string, v any) error {
	b, err := httpGet(ctx, url, 64<<20)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: not the index format expected: %w", url, err)
	}
	return nil
}

func httpGet(ctx context.Context, url string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", url, limit)
	}
	return b, nil
}

// goArch and nodeArch are the index's names for a tool cache arch.
func goArch(arch string) string {
	switch arch {
	case "x64":
		return "amd64"
	case "x86":
		return "386"
	}
	return arch
}

// lookupRelease finds the best release of t for spec in its index; why says
// how an alias was resolved.
func (r *Executor) lookupRelease(ctx context.Context, t *tool, spec, arch string, allowPre bool) (release, string, error) {
	idx := r.indexURL(t)
	byVersion := map[string]release{}
	var stable []string
	switch t {
	case goTool:
		var rels []struct {
			Version string `json:"version"`
			Stable  bool   `json:"stable"`
			Files   []struct {
				Filename, OS, Arch, SHA256, Kind string
			} `json:"files"`
		}
		if err := getJSON(ctx, idx, &rels); err != nil {
			return release{}, "", err
		}
		base := cmp.Or(r.cfg.Dist.Go, defaultGoDist)
		for _, rel := range rels {
			v := goCacheVersion(rel.Version)
			for _, f := range rel.Files {
				if f.OS == "linux" && f.Arch == goArch(arch) && f.Kind == "archive" && strings.HasSuffix(f.Filename, ".tar.gz") {
					byVersion[v] = release{version: v, url: strings.TrimSuffix(base, "/") + "/" + f.Filename, sha256: strings.ToLower(f.SHA256), strip: "go"}
					if rel.Stable {
						stable = append(stable, v)
					}
				}
			}
		}
	case nodeTool:
		var rels []struct {
			Version string   `json:"version"`
			Files   []string `json:"files"`
			LTS     any      `json:"lts"`
		}
		if err := getJSON(ctx, idx, &rels); err != nil {
			return release{}, "", err
		}
		base := strings.TrimSuffix(cmp.Or(r.cfg.Dist.Node, defaultNodeDist), "/")
		want := "linux-" + arch
		lts := strings.HasPrefix(strings.ToLower(spec), "lts/")
		codename := strings.ToLower(strings.TrimPrefix(strings.ToLower(spec), "lts/"))
		for _, rel := range rels {
			name, isLTS := rel.LTS.(string)
			if lts && (!isLTS || codename != "*" && strings.ToLower(name) != codename) {
				continue
			}
			for _, f := range rel.Files {
				if f == want {
					v := strings.TrimPrefix(rel.Version, "v")
					dir := "node-" + rel.Version + "-" + want
					byVersion[v] = release{version: v, url: base + "/" + rel.Version + "/" + dir + ".tar.gz", strip: dir}
					stable = append(stable, v)
				}
			}
		}
		if lts {
			spec = "*"
		}
	default:
		rel, err := r.lookupPython(ctx, spec, arch, allowPre)
		return rel, "", err
	}
	want, why := resolveAlias(spec, stable, "in "+idx)
	var all []string
	for v := range byVersion {
		all = append(all, v)
	}
	best := bestVersion(want, all)
	if best == "" {
		return release{}, "", fmt.Errorf("%s has no %s version matching '%s' for linux-%s", idx, t.label, spec, arch)
	}
	rel := byVersion[best]
	if t == nodeTool {
		sums, err := httpGet(ctx, rel.url[:strings.LastIndex(rel.url, "/")]+"/SHASUMS256.txt", 1<<20)
		if err != nil {
			return release{}, "", fmt.Errorf("the checksums of node %s: %w", best, err)
		}
		for _, l := range strings.Split(string(sums), "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[1] == path.Base(rel.url) {
				rel.sha256 = strings.ToLower(f[0])
			}
		}
	}
	if len(rel.sha256) != 64 {
		return release{}, "", fmt.Errorf("%s gives no sha256 for %s: not downloading what cannot be checked", idx, rel.url)
	}
	return rel, why, nil
}

// goCacheVersion is the tool cache's name for a Go version: go1.22.5 →
// 1.22.5, go1.21.0 → 1.21.0, go1.20 → 1.20.0, go1.23rc1 → 1.23rc1.
func goCacheVersion(v string) string {
	v = strings.TrimPrefix(v, "go")
	if p, ok := parseVersion(v); ok && p.n == 2 && p.pre == "" {
		return v + ".0"
	}
	return v
}

// download adds the best release of t for spec to the tool cache and
// returns where it is in the sandbox.
func (r *Executor) download(ctx context.Context, j *runner.Job, idx int, t *tool, spec, arch string, allowPre bool) (found, error) {
	rel, why, err := r.lookupRelease(ctx, t, spec, arch, allowPre)
	if err != nil {
		return found{}, err
	}
	name, _ := r.toolVersions(t, arch)
	r.dl.Lock()
	defer r.dl.Unlock()
	final := filepath.Join(r.cfg.ToolCache, name, rel.version, arch)
	if fi, err := os.Stat(final); err != nil || !fi.IsDir() {
		j.Log(idx, fmt.Sprintf("Downloading %s %s from %s", t.label, rel.version, rel.url))
		if err := fetchTool(ctx, rel, filepath.Join(r.cfg.ToolCache, name), final); err != nil {
			return found{}, err
		}
		if rel.noChecksum {
			j.Log(idx, fmt.Sprintf("%s's index gives no checksum (nor does the real action check one): fetched from exactly the URL it names, "+
				"checked as a complete %s build; added to the tool cache: %s", t.label, t.label, final))
		} else {
			j.Log(idx, fmt.Sprintf("sha256 %s matches the index; added to the tool cache: %s", rel.sha256, final))
		}
	}
	return found{version: rel.version, dir: path.Join(j.Guest.Layout.ToolCache, name, rel.version, arch), why: why}, nil
}

// isAlias reports whether spec names a moving version (stable, lts/*…),
// which a job with egress resolves against the index, as the real actions do.
func isAlias(spec string) bool {
	switch s := strings.ToLower(strings.TrimSpace(spec)); {
	case s == "stable", s == "oldstable", s == "latest", s == "current", s == "node", strings.HasPrefix(s, "lts/"):
		return true
	}
	return false
}

// fetchTool downloads rel, checks its sha256 and extracts it to final
// (through a temporary directory in parent, renamed into place).
func fetchTool(ctx context.Context, rel release, parent, final string) error {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	arc, err := os.CreateTemp(parent, ".download-")
	if err != nil {
		return err
	}
	defer os.Remove(arc.Name())
	defer arc.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rel.url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 30 * time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", rel.url, resp.Status)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(arc, h), io.LimitReader(resp.Body, maxToolArchive+1))
	if err != nil {
		return fmt.Errorf("downloading %s: %w", rel.url, err)
	}
	if n > maxToolArchive {
		return fmt.Errorf("%s is larger than %d bytes: refused", rel.url, maxToolArchive)
	}
	if n == 0 {
		return fmt.Errorf("%s is empty: refused", rel.url)
	}
	if got := hex.EncodeToString(h.Sum(nil)); !rel.noChecksum && got != rel.sha256 {
		return fmt.Errorf("checksum mismatch for %s: the archive's sha256 is %s, the index says %s; refused (nothing was added to the tool cache)",
			rel.url, got, rel.sha256)
	}
	if _, err := arc.Seek(0, io.SeekStart); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, ".extract-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := extractTarGz(arc, tmp, rel.strip); err != nil {
		return fmt.Errorf("extracting %s: %w", rel.url, err)
	}
	if rel.finish != nil {
		if err := rel.finish(tmp); err != nil {
			return fmt.Errorf("%s: %w; refused (nothing was added to the tool cache)", rel.url, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return err
	}
	os.RemoveAll(final) // an incomplete earlier attempt (no .complete marker)
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	os.Chmod(final, 0o755)
	return os.WriteFile(final+".complete", nil, 0o644)
}

// extractTarGz extracts the entries under strip/ of a .tar.gz into dir,
// trusting nothing: names must stay inside, symlinks must point inside, and
// only files, directories and symlinks are made.
func extractTarGz(r io.Reader, dir, strip string) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if slices.Contains(strings.Split(h.Name, "/"), "..") || path.IsAbs(h.Name) {
			return fmt.Errorf("entry %q leaves the archive's directory", h.Name)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		rel, ok := name, name != "."
		if strip != "" {
			rel, ok = strings.CutPrefix(name, strip+"/")
		}
		if !ok || name == strip {
			continue
		}
		if rel == "" || path.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
			return fmt.Errorf("entry %q leaves the archive's directory", h.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(rel))
		if err := noSymlinkParent(dir, rel); err != nil {
			return fmt.Errorf("entry %q: %w", h.Name, err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode&0o755)|0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			if path.IsAbs(h.Linkname) {
				return fmt.Errorf("symlink %q points outside (%s)", h.Name, h.Linkname)
			}
			dest := path.Clean(path.Join(path.Dir(rel), h.Linkname))
			if dest == ".." || strings.HasPrefix(dest, "../") {
				return fmt.Errorf("symlink %q points outside (%s)", h.Name, h.Linkname)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(h.Linkname, target); err != nil {
				return err
			}
		default:
			// hard links, devices, fifos: not in a toolchain archive
			return fmt.Errorf("entry %q has a type hookci does not extract (%c)", h.Name, h.Typeflag)
		}
	}
}

// noSymlinkParent refuses an entry whose directory passes through a symlink
// the archive made: a link that looks inside could lead outside once
// another link is followed.
func noSymlinkParent(dir, rel string) error {
	cur := dir
	parts := strings.Split(rel, "/")
	for _, p := range parts[:len(parts)-1] {
		cur = filepath.Join(cur, p)
		fi, err := os.Lstat(cur)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("its directory %s is a symlink", strings.TrimPrefix(cur, dir+"/"))
		}
	}
	return nil
}
