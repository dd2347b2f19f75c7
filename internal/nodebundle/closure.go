package nodebundle

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// object is one ELF file of the closure: the name it is needed by (its
// file name in the bundle) and its resolved path inside the root.
type object struct {
	name string // DT_NEEDED name ("libc.so.6"); for the binary, "node"
	path string // absolute path inside root, symlinks resolved
}

// closureOf is what a binary needs to run: its ELF interpreter (the glibc
// loader; "" for a static binary) and every shared library it loads, in
// breadth-first order, each resolved inside root as the loader would.
type closureOf struct {
	bin    object
	interp object // name: the loader's file name ("ld-linux-x86-64.so.2")
	libs   []object
}

// defaultDirs are searched after RPATH/RUNPATH and ld.so.conf, as glibc's
// loader does on x86-64 Debian (multiarch first).
var defaultDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// closure computes bin's closure inside root (bin is a path inside root).
func closure(root, bin string) (*closureOf, error) {
	p, err := resolveIn(root, bin)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", bin, err)
	}
	f, err := elf.Open(hostPath(root, p))
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", bin, err)
	}
	class, machine := f.Class, f.Machine
	interp, err := interpreter(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", bin, err)
	}
	c := &closureOf{bin: object{name: "node", path: p}}
	if interp != "" {
		ip, err := resolveIn(root, interp)
		if err != nil {
			return nil, fmt.Errorf("node %s: its ELF interpreter %s: %w", bin, interp, err)
		}
		c.interp = object{name: path.Base(interp), path: ip}
	}
	conf := ldSoConf(root)
	seen := map[string]bool{c.interp.name: true}
	queue := []object{c.bin}
	for len(queue) > 0 {
		o := queue[0]
		queue = queue[1:]
		needed, search, err := dynamic(root, o)
		if err != nil {
			return nil, err
		}
		for _, n := range needed {
			if seen[n] {
				continue
			}
			seen[n] = true
			if strings.Contains(n, "/") {
				return nil, fmt.Errorf("%s needs %q, a path: not supported", o.path, n)
			}
			lp, err := findLib(root, n, slices.Concat(search, conf, defaultDirs), class, machine)
			if err != nil {
				return nil, fmt.Errorf("%s needs %s: %w", o.path, n, err)
			}
			lib := object{name: n, path: lp}
			c.libs = append(c.libs, lib)
			queue = append(queue, lib)
		}
	}
	return c, nil
}

// interpreter is the PT_INTERP of f ("" if it has none).
func interpreter(f *elf.File) (string, error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return "", fmt.Errorf("reading its ELF interpreter: %w", err)
		}
		s := strings.TrimRight(string(b), "\x00")
		if !path.IsAbs(s) {
			return "", fmt.Errorf("ELF interpreter %q is not an absolute path", s)
		}
		return s, nil
	}
	return "", nil
}

// dynamic returns o's DT_NEEDED names and its RPATH/RUNPATH directories
// ($ORIGIN expanded; entries with other tokens dropped).
func dynamic(root string, o object) (needed, search []string, err error) {
	f, err := elf.Open(hostPath(root, o.path))
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	needed, err = f.DynString(elf.DT_NEEDED)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", o.path, err)
	}
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		vals, err := f.DynString(tag)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", o.path, err)
		}
		for _, v := range vals {
			for _, d := range strings.Split(v, ":") {
				d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", "$ORIGIN"), "$ORIGIN", path.Dir(o.path))
				if path.IsAbs(d) && !strings.Contains(d, "$") {
					search = append(search, path.Clean(d))
				}
			}
		}
	}
	return needed, search, nil
}

// findLib finds a library named name in dirs inside root, skipping files
// of another ELF class or machine (32-bit libraries in /usr/lib).
func findLib(root, name string, dirs []string, class elf.Class, machine elf.Machine) (string, error) {
	for _, d := range dirs {
		p, err := resolveIn(root, path.Join(d, name))
		if err != nil {
			continue
		}
		f, err := elf.Open(hostPath(root, p))
		if err != nil {
			continue
		}
		ok := f.Class == class && f.Machine == machine
		f.Close()
		if ok {
			return p, nil
		}
	}
	return "", errors.New("not found")
}

// ldSoConf reads the library directories of root's /etc/ld.so.conf and
// the files it includes (one level of globs, as Debian's has).
func ldSoConf(root string) []string {
	var dirs []string
	var read func(file string, depth int)
	read = func(file string, depth int) {
		data, err := os.ReadFile(hostPath(root, file))
		if err != nil || depth > 4 {
			return
		}
		for _, line := range strings.Split(string(data), "\n") {
			line, _, _ = strings.Cut(line, "#")
			line = strings.TrimSpace(line)
			switch {
			case line == "":
			case strings.HasPrefix(line, "include "):
				pat := strings.TrimSpace(strings.TrimPrefix(line, "include "))
				if !path.IsAbs(pat) {
					pat = path.Join(path.Dir(file), pat)
				}
				matches, _ := filepath.Glob(hostPath(root, pat))
				slices.Sort(matches)
				for _, m := range matches {
					rel, err := filepath.Rel(root, m)
					if err == nil {
						read("/"+filepath.ToSlash(rel), depth+1)
					}
				}
			case path.IsAbs(line):
				dirs = append(dirs, path.Clean(line))
			}
		}
	}
	read("/etc/ld.so.conf", 0)
	return dirs
}

// hostPath is the host path of p (absolute, inside root).
func hostPath(root, p string) string {
	return filepath.Join(root, filepath.FromSlash(p))
}

// resolveIn resolves every symbolic link of p (an absolute path inside
// root) as a process chrooted to root would, so that an image's absolute
// links stay inside it; it returns the resolved path inside root, which
// must exist.
func resolveIn(root, p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("%q is not an absolute path", p)
	}
	rest := strings.Split(strings.TrimPrefix(path.Clean(p), "/"), "/")
	cur := "/"
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		fi, err := os.Lstat(hostPath(root, next))
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(hostPath(root, next))
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return cur, nil
}
