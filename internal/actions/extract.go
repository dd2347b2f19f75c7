package actions

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/hookci/hookci/internal/gitrepo"
)

// An action's tree comes from a repository anyone may have written, and git
// objects fetched from a server are not checked: its archive may hold
// duplicate names, a file and a directory of the same name, absolute or
// ".." paths, hard links, devices, or symlinks whose chain leads out of the
// tree. The host extracts and reads it only through an os.Root, refuses
// every entry but plain directories, files and symlinks, never lets an
// entry land under a non-directory, and refuses the whole action when any
// symlink, followed link by link, would leave the tree.

// maxActionBytes bounds the files of one extracted action.
const maxActionBytes = 2 << 30

// Markers kept in an extracted action's directory: verified means the tree
// was extracted and checked by this version; complete tells putTree that a
// sandbox already holds the copy.
const (
	verifiedMarker = ".hookci-verified"
	completeMarker = ".hookci-complete"
)

// exportTree writes commit sha of the bare repository gitDir into dst.
// public records that it was fetched without a credential (see fetchRemote).
func exportTree(ctx context.Context, gitDir, sha, dst string, public bool) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	// Jobs may export the same action at once: each extracts into its own
	// directory and the first rename wins.
	tmp, err := os.MkdirTemp(filepath.Dir(dst), filepath.Base(dst)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cmd := gitrepo.Command(ctx, "", nil, "--git-dir="+gitDir, "archive", "--format=tar", sha)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git archive: %w", err)
	}
	if xerr := extractTree(out, tmp); xerr != nil {
		cmd.Process.Kill() // the rest of the archive does not matter
		cmd.Wait()
		return xerr
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git archive %.12s: %w: %s", sha, err, strings.TrimSpace(stderr.String()))
	}
	how := "token"
	if public {
		how = "public"
	}
	if err := writeMarker(tmp, completeMarker, ""); err != nil {
		return err
	}
	if err := writeMarker(tmp, verifiedMarker, how); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		if _, serr := os.Stat(filepath.Join(dst, verifiedMarker)); serr == nil {
			return nil // another job finished first
		}
		os.RemoveAll(dst) // a partial tree from a crash, or one extracted before links were checked
		return os.Rename(tmp, dst)
	}
	return nil
}

// writeMarker writes a marker file into dir, replacing whatever entry of
// that name the archive held (never writing through it).
func writeMarker(dir, name, content string) error {
	p := filepath.Join(dir, name)
	if err := os.RemoveAll(p); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// extractTree extracts the tar stream r into the empty directory dir
// (see the comment at the top of the file).
func extractTree(r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	x := &extractor{root: root, kinds: map[string]byte{}}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the action's archive: %w", err)
		}
		if err := x.entry(h, tr); err != nil {
			return err
		}
	}
	for _, l := range x.links {
		if err := checkLink(root, l); err != nil {
			return err
		}
	}
	return nil
}

type extractor struct {
	root  *os.Root
	kinds map[string]byte // name → 'd' directory, 'f' file, 'l' symlink
	links []string
	bytes int64
}

func (x *extractor) entry(h *tar.Header, r io.Reader) error {
	if h.Typeflag == tar.TypeXGlobalHeader { // git archive's commit id comment
		return nil
	}
	name := strings.TrimSuffix(h.Name, "/")
	if name == "" || name != path.Clean(name) || !filepath.IsLocal(name) || strings.ContainsAny(name, "\\\x00") {
		return fmt.Errorf("the action's archive holds an invalid entry %q (absolute, with .. or not clean)", h.Name)
	}
	var err error
	if k := x.kinds[name]; k != 0 && !(k == 'd' && h.Typeflag == tar.TypeDir) {
		return fmt.Errorf("the action's archive holds %q twice", name)
	}
	if err := x.parents(name); err != nil {
		return err
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if x.kinds[name] == 'd' {
			return nil
		}
		err = x.root.Mkdir(name, 0o755)
		x.kinds[name] = 'd'
	case tar.TypeReg:
		x.bytes += h.Size
		if x.bytes > maxActionBytes {
			return fmt.Errorf("the action's files exceed %d bytes", maxActionBytes)
		}
		err = x.file(name, fs.FileMode(h.Mode)&0o755|0o644, r)
		x.kinds[name] = 'f'
	case tar.TypeSymlink:
		t := h.Linkname
		if t == "" || path.IsAbs(t) || strings.ContainsRune(t, 0) {
			return fmt.Errorf("symlink %s -> %s points outside the action", name, t)
		}
		err = x.root.Symlink(t, name)
		x.kinds[name] = 'l'
		x.links = append(x.links, name)
	default:
		return fmt.Errorf("the action's archive holds %s of type %q; only files, directories and symlinks are allowed", name, h.Typeflag)
	}
	if err != nil {
		return fmt.Errorf("extracting %s: %w", name, err)
	}
	return nil
}

// parents makes the directories above name, refusing to go through any
// entry that is not a directory.
func (x *extractor) parents(name string) error {
	dir := path.Dir(name)
	if dir == "." {
		return nil
	}
	parts := strings.Split(dir, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		switch x.kinds[p] {
		case 'd':
			continue
		case 0:
			if err := x.root.Mkdir(p, 0o755); err != nil {
				return fmt.Errorf("extracting %s: %w", name, err)
			}
			x.kinds[p] = 'd'
		default:
			return fmt.Errorf("the action's archive puts %s under %s, which is not a directory", name, p)
		}
	}
	return nil
}

func (x *extractor) file(name string, mode fs.FileMode, r io.Reader) error {
	f, err := x.root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// maxLinkHops bounds the links followed resolving one path (Linux's limit).
const maxLinkHops = 40

// checkLink follows the symlink name inside root component by component,
// as the kernel would, and fails when the chain leaves root, is absolute or
// loops. A chain ending at a missing name is harmless and allowed.
func checkLink(root *os.Root, name string) error {
	var at []string // the resolved, link-free directories so far
	todo := strings.Split(name, "/")
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(at) == 0 {
				return fmt.Errorf("symlink %s leads outside the action", name)
			}
			at = at[:len(at)-1]
			continue
		}
		p := path.Join(append(append([]string{}, at...), c)...)
		fi, err := root.Lstat(p)
		if err != nil {
			return nil // the chain ends at a missing name
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			at = append(at, c)
			continue
		}
		if hops++; hops > maxLinkHops {
			return fmt.Errorf("symlink %s: too many levels of links", name)
		}
		t, err := root.Readlink(p)
		if err != nil {
			return fmt.Errorf("symlink %s: %w", name, err)
		}
		if path.IsAbs(t) {
			return fmt.Errorf("symlink %s leads outside the action (through %s -> %s)", name, p, t)
		}
		todo = append(strings.Split(t, "/"), todo...)
	}
	return nil
}

// readTreeFile reads name (slash path) of the extracted tree dir without
// following anything out of it.
func readTreeFile(dir, name string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	b, err := root.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path.Base(name), fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}
