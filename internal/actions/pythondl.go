package actions

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Downloads of setup-python, as the real action makes them: the version is
// looked up in actions/python-versions' versions-manifest.json (or the
// configured copy of it), the archive its download_url names is fetched by
// hookci and laid out in the tool cache as Python/<version>/<arch> with the
// <arch>.complete marker.
//
// The manifest carries no checksum, and the real action verifies none. What
// hookci checks instead: the archive comes from exactly the URL the manifest
// names, over HTTPS (plain http only when the operator configured an http
// manifest, i.e. a local mirror); it is at most maxToolArchive bytes, a
// gzip'd tar whose every entry stays inside, and it holds bin/python3.
// Extraction goes to a temporary directory renamed into place, so a failed
// or refused download never leaves a half-extracted version.
//
// The archive's own setup.sh (which the real action runs) is not run: hookci
// does its layout steps itself (the python, bin/pythonX.Y, bin/pythonXY and
// bin/python links) and does not run ensurepip, so pip is whatever the
// archive carries.

// pythonPlatformVersion is the Ubuntu release whose builds hookci picks from
// the manifest. The guest image is Debian bookworm (glibc 2.36, OpenSSL 3):
// the ubuntu 22.04 builds (glibc 2.35, libssl3) run on it; the 24.04 builds
// need glibc 2.39 and the 20.04 builds need libssl1.1, which bookworm lacks.
const pythonPlatformVersion = "22.04"

// pyRelease is one entry of versions-manifest.json.
type pyRelease struct {
	Version    string `json:"version"`
	Stable     bool   `json:"stable"`
	ReleaseURL string `json:"release_url"`
	Files      []struct {
		Filename        string `json:"filename"`
		Arch            string `json:"arch"`
		Platform        string `json:"platform"`
		PlatformVersion string `json:"platform_version"`
		DownloadURL     string `json:"download_url"`
	} `json:"files"`
}

// lookupPython finds the highest version in the manifest matching spec
// that has a linux build for pythonPlatformVersion and arch. Stable
// releases only, unless allowPre: then a pre-release matches when no
// stable release does, as the real action's allow-prereleases.
func (r *Executor) lookupPython(ctx context.Context, spec, arch string, allowPre bool) (release, error) {
	idx := r.indexURL(pythonTool)
	var rels []pyRelease
	if err := getJSON(ctx, idx, &rels); err != nil {
		return release{}, err
	}
	byVersion := map[string]string{}
	var stable, pre []string
	for _, rel := range rels {
		for _, f := range rel.Files {
			if f.Platform != "linux" || f.PlatformVersion != pythonPlatformVersion || f.Arch != arch || !strings.HasSuffix(f.Filename, ".tar.gz") {
				continue
			}
			byVersion[rel.Version] = f.DownloadURL
			if rel.Stable {
				stable = append(stable, rel.Version)
			} else {
				pre = append(pre, rel.Version)
			}
		}
	}
	best := bestVersion(spec, stable)
	if best == "" && allowPre {
		best = bestPre(spec, pre)
	}
	if best == "" {
		hint := ""
		if !allowPre && bestPre(spec, pre) != "" {
			hint = " (a pre-release matches: set allow-prereleases: true to use it)"
		}
		return release{}, fmt.Errorf("%s has no stable Python version matching '%s' for linux %s %s%s", idx, spec, pythonPlatformVersion, arch, hint)
	}
	u := byVersion[best]
	if err := checkPythonURL(idx, u); err != nil {
		return release{}, err
	}
	return release{version: best, url: u, noChecksum: true, finish: pythonLayout(best)}, nil
}

// bestPre is the highest pre-release whose numbers spec's numbers prefix
// (3.14 and 3.14.0 both match 3.14.0-beta.1).
func bestPre(spec string, pre []string) string {
	p, ok := parsePartial(spec)
	if !ok {
		return ""
	}
	var best version
	for _, s := range pre {
		v, ok := parseVersion(s)
		if !ok || p.v.pre != "" && v.pre != p.v.pre {
			continue
		}
		match := true
		for i := 0; i < p.fixed; i++ {
			match = match && v.nums[i] == p.v.nums[i]
		}
		if match && (best.raw == "" || v.cmp(best) > 0) {
			best = v
		}
	}
	return best.raw
}

// checkPythonURL refuses a download_url that is not HTTPS, unless the
// manifest itself was configured as plain http (a local mirror).
func checkPythonURL(manifest, download string) error {
	u, err := url.Parse(download)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%s names an unusable download_url %q", manifest, download)
	}
	if u.Scheme == "https" {
		return nil
	}
	if m, err := url.Parse(manifest); err == nil && m.Scheme == "http" && u.Scheme == "http" {
		return nil
	}
	return fmt.Errorf("%s names %s, not an https URL: refused (the manifest has no checksum, so the transport is what is trusted)", manifest, download)
}

// pythonLayout checks that an extracted archive is a Python build and makes
// the links the archive's setup.sh would make.
func pythonLayout(ver string) func(dir string) error {
	return func(dir string) error {
		fi, err := os.Lstat(filepath.Join(dir, "bin", "python3"))
		if err != nil || !fi.Mode().IsRegular() && fi.Mode()&os.ModeSymlink == 0 {
			return errors.New("the archive has no bin/python3: not a Python build")
		}
		v, _ := parseVersion(ver)
		dot := fmt.Sprintf("python%d.%d", v.nums[0], v.nums[1])
		target := dot
		if _, err := os.Lstat(filepath.Join(dir, "bin", dot)); err != nil {
			target = "python3"
		}
		os.Remove(filepath.Join(dir, "setup.sh"))
		for link, to := range map[string]string{
			filepath.Join(dir, "python"): "bin/" + target,
			filepath.Join(dir, "bin", fmt.Sprintf("python%d%d", v.nums[0], v.nums[1])): target,
			filepath.Join(dir, "bin", "python"):                                        target,
		} {
			if _, err := os.Lstat(link); err == nil {
				continue
			}
			if err := os.Symlink(to, link); err != nil {
				return err
			}
		}
		return nil
	}
}
