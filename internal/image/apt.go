package image

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// hostKernelVersion resolves the version that keys a kernel layer, from the
// host's dpkg database and apt lists (no network).
func hostKernelVersion(kind KernelKind, pkg string) (string, error) {
	if kind == KernelMinimal {
		out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", pkg).Output()
		if err != nil || len(bytes.TrimSpace(out)) == 0 {
			return "", fmt.Errorf("kernel source package %s is not installed (apt-get install %s): %v", pkg, pkg, err)
		}
		return string(bytes.TrimSpace(out)), nil
	}
	abi, version, err := debianKernelPackage(pkg)
	if err != nil {
		return "", err
	}
	return abi + "=" + version, nil
}

var kernelDependsRE = regexp.MustCompile(`\b(linux-image-[0-9][^ ,]*) \(= ([^)]+)\)`)

// debianKernelPackage resolves a metapackage such as linux-image-amd64 to the
// versioned package it depends on ("linux-image-6.1.0-56-amd64", "6.1.192-2").
func debianKernelPackage(meta string) (pkg, version string, err error) {
	out, err := exec.Command("apt-cache", "show", "--no-all-versions", meta).Output()
	if err != nil {
		return "", "", fmt.Errorf("apt-cache show %s: %w (run apt-get update?)", meta, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "Depends:") {
			continue
		}
		if m := kernelDependsRE.FindStringSubmatch(line); m != nil {
			return m[1], m[2], nil
		}
	}
	return "", "", fmt.Errorf("apt-cache show %s: no linux-image dependency found", meta)
}

// aptSource is one Debian archive entry of the host's apt configuration.
type aptSource struct {
	URI        string
	Suites     []string
	Components []string
}

// hostMirror returns the URI of the first host apt source that serves suite.
func hostMirror(suite string) (string, error) {
	srcs, err := readAptSources("/etc/apt")
	if err != nil {
		return "", err
	}
	for _, s := range srcs {
		for _, su := range s.Suites {
			if su == suite {
				return s.URI, nil
			}
		}
	}
	return "", fmt.Errorf("no apt source for suite %q in /etc/apt/sources.list*; set the mirror explicitly", suite)
}

// readAptSources parses sources.list (one-line format) and sources.list.d/*.list
// and *.sources (deb822 format) under dir, keeping "deb" entries only.
func readAptSources(dir string) ([]aptSource, error) {
	var files []string
	files = append(files, filepath.Join(dir, "sources.list"))
	for _, pat := range []string{"*.list", "*.sources"} {
		m, _ := filepath.Glob(filepath.Join(dir, "sources.list.d", pat))
		files = append(files, m...)
	}
	var out []aptSource
	for _, f := range files {
		data, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read apt sources: %w", err)
		}
		if strings.HasSuffix(f, ".sources") {
			out = append(out, parseDeb822Sources(data)...)
		} else {
			out = append(out, parseOneLineSources(data)...)
		}
	}
	return out, nil
}

func parseOneLineSources(data []byte) []aptSource {
	var out []aptSource
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") { // options: [arch=amd64 signed-by=...]
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) < 2 {
			continue
		}
		out = append(out, aptSource{URI: f[0], Suites: []string{f[1]}, Components: f[2:]})
	}
	return out
}

func parseDeb822Sources(data []byte) []aptSource {
	var out []aptSource
	for _, para := range strings.Split(string(data), "\n\n") {
		fields := map[string]string{}
		key := ""
		for _, line := range strings.Split(para, "\n") {
			if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
				continue
			}
			if (line[0] == ' ' || line[0] == '\t') && key != "" {
				fields[key] += " " + strings.TrimSpace(line)
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			key = strings.ToLower(strings.TrimSpace(k))
			fields[key] = strings.TrimSpace(v)
		}
		if !strings.Contains(" "+fields["types"]+" ", " deb ") || strings.EqualFold(fields["enabled"], "no") {
			continue
		}
		suites := strings.Fields(fields["suites"])
		for _, uri := range strings.Fields(fields["uris"]) {
			out = append(out, aptSource{URI: uri, Suites: suites, Components: strings.Fields(fields["components"])})
		}
	}
	return out
}

// run runs a command, sending its output to log, and returns an error that
// includes the tail of that output.
func run(ctx context.Context, log io.Writer, dir string, name string, args ...string) error {
	var tail tailBuffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdout = io.MultiWriter(log, &tail)
	cmd.Stderr = cmd.Stdout
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail.String())
	}
	return nil
}

// tailBuffer keeps the last 2 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }
