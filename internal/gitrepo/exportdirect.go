package gitrepo

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// A commit's workspace tar, written straight from the mirror's objects.
//
// The tar a job's workspace is put from used to be made by checking the
// commit out on the server (a .git written from the mirror, then `git
// checkout`) and reading that tree back: every file written to the server's
// disk and read again before the sandbox wrote it a second time, and a git
// process on the way. exportDirect writes the same tar from the objects the
// mirror's `cat-file --batch` reads: the files of the commit's tree, and a
// .git holding what initShallow and `git checkout --detach` leave (the
// undeltified pack of the commit and its trees and blobs with its index,
// shallow, HEAD detached at the commit, its reflog line, origin, and a
// version 2 index of the files). The index's stat data is left zero: the
// agent fills it in from the files as they are in the sandbox
// (agent.Client.PutCheckout), which it did for git's index too.
//
// Only a plain tree is written this way, one whose checkout is its blobs'
// bytes: no .gitattributes anywhere (eol conversion, ident, filters and
// working-tree-encoding need git's own checkout), only the modes git writes
// (100644, 100755, 120000, 160000, 40000), no name git would refuse or treat
// specially on checkout (".git" in any case or NTFS spelling, ".", "..",
// names with '/', '\\' or ':'), no duplicate names, and an origin URL the
// config can hold unquoted. Anything else returns errNotPlain and the caller
// falls back to git's checkout (TreeCached and TarDir), which applies its
// own rules — refusing, converting or filtering — exactly as before.

// errNotPlain: the tree needs git's own checkout.
var errNotPlain = errors.New("gitrepo: the tree needs git's checkout")

// treeFile is one index entry of a plain tree.
type treeFile struct {
	path string // slash-separated, relative to the workspace
	mode uint32 // 0o100644, 0o100755, 0o120000 or 0o160000
	id   [sha1.Size]byte
}

const (
	modeFile    = 0o100644
	modeExec    = 0o100755
	modeSymlink = 0o120000
	modeGitlink = 0o160000
	modeTree    = 0o040000
)

// plainTree reads commit sha and every tree under it. It returns the
// commit's and the trees' objects (in the order read, for the pack), the
// directories holding files (parents first) and the files in the order
// walked; errNotPlain when the tree needs git's checkout.
func (m *Mirror) plainTree(ctx context.Context, sha string) (objs []packInput, dirs []string, files []treeFile, err error) {
	commit, treeHex, err := m.commitTree(ctx, sha)
	if err != nil {
		return nil, nil, nil, err
	}
	objs = append(objs, packInput{id: sha, typ: "commit", data: commit})
	seen := map[string]bool{}
	var walk func(id, dir string, depth int) error
	walk = func(id, dir string, depth int) error {
		if depth > 512 { // deeper than any path git checks out (PATH_MAX)
			return errNotPlain
		}
		typ, tree, err := m.object(ctx, id)
		if err != nil {
			return fmt.Errorf("gitrepo: checkout %.12s: tree %.12s: %w", sha, id, err)
		}
		if typ != "tree" {
			return fmt.Errorf("gitrepo: checkout %.12s: %.12s is a %s, not a tree", sha, id, typ)
		}
		if !seen[id] {
			seen[id] = true
			objs = append(objs, packInput{id: id, typ: "tree", data: tree})
		}
		if dir != "" && len(tree) > 0 {
			dirs = append(dirs, dir)
		}
		names := map[string]bool{}
		err = treeEntries(tree, sha1.Size, func(modeText, name string, raw []byte) error {
			mode64, err := strconv.ParseUint(modeText, 8, 32)
			if err != nil || !plainName(name) || names[name] {
				return errNotPlain
			}
			names[name] = true
			p := name
			if dir != "" {
				p = dir + "/" + name
			}
			if len(p) > 4000 {
				return errNotPlain
			}
			switch mode := uint32(mode64); mode {
			case modeTree:
				return walk(hex.EncodeToString(raw), p, depth+1)
			case modeFile, modeExec, modeSymlink, modeGitlink:
				files = append(files, treeFile{path: p, mode: mode, id: [sha1.Size]byte(raw)})
				return nil
			}
			return errNotPlain
		})
		if errors.Is(err, errMalformedTree) {
			return fmt.Errorf("gitrepo: checkout %.12s: malformed tree %.12s", sha, id)
		}
		return err
	}
	if err := walk(treeHex, "", 0); err != nil {
		return nil, nil, nil, err
	}
	return objs, dirs, files, nil
}

// plainName reports whether git checks out a tree entry called name as a
// file of that name with no rule of its own: not .gitattributes (which can
// change how files are written), nor a name git refuses or guards (".git"
// in any case, and the spellings NTFS and HFS+ take for it: trailing dots
// and spaces, "git~1", alternate streams), nor a path separator.
func plainName(name string) bool {
	if name == "" || name == "." || name == ".." || name == ".gitattributes" ||
		strings.ContainsAny(name, "/\\:\x00") {
		return false
	}
	lower := strings.ToLower(strings.TrimRight(name, ". "))
	if lower == ".git" || strings.HasPrefix(lower, "git~") {
		return false
	}
	// HFS+ ignores some zero-width characters: ".g\u200cit" is .git there.
	if strings.HasPrefix(lower, ".") && strings.ContainsAny(lower, "\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u206a\u206b\u206c\u206d\u206e\u206f\ufeff") {
		return false
	}
	return true
}

// exportDirect writes the workspace tar of commit sha (see the comment at
// the top) to w, using packTmp (an empty file) for the pack while the
// files are written. It returns errNotPlain or errNoBatch, having written
// nothing to w, when the caller must use git's checkout instead.
func (m *Mirror) exportDirect(ctx context.Context, sha, cloneURL string, w io.Writer, packTmp *os.File) error {
	if m.cache == nil || len(sha) != 2*sha1.Size || !ValidSHA(sha) {
		return errNoBatch
	}
	if cloneURL == "" || strings.ContainsAny(cloneURL, "\"\\\n\r\x00;# \t") {
		return errNotPlain // git quotes it in the config: initShallow runs `git remote add`
	}
	objs, dirs, files, err := m.plainTree(ctx, sha)
	if err != nil {
		return err
	}
	blobs := map[[sha1.Size]byte]bool{}
	for _, f := range files {
		if f.mode != modeGitlink { // a submodule's commit is not in this repository
			blobs[f.id] = true
		}
	}
	pw, err := newPackWriter(packTmp, len(objs)+len(blobs))
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := pw.add(o.id, o.typ, o.data); err != nil {
			return err
		}
	}

	now := time.Now()
	tw := tar.NewWriter(w)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: now, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: now, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range dirs {
		if err := dir(d, 0o755); err != nil {
			return fmt.Errorf("gitrepo: %w", err)
		}
	}
	packed := map[[sha1.Size]byte]bool{}
	for _, f := range files {
		if f.mode == modeGitlink { // an empty directory, as git leaves a submodule not checked out
			if err := dir(f.path, 0o755); err != nil {
				return fmt.Errorf("gitrepo: %w", err)
			}
			continue
		}
		id := hex.EncodeToString(f.id[:])
		typ, data, err := m.object(ctx, id)
		if err != nil {
			return fmt.Errorf("gitrepo: checkout %.12s: object %.12s: %w", sha, id, err)
		}
		if typ != "blob" {
			return fmt.Errorf("gitrepo: checkout %.12s: %s is a %s, not a blob", sha, f.path, typ)
		}
		if !packed[f.id] {
			packed[f.id] = true
			if err := pw.add(id, typ, data); err != nil {
				return err
			}
		}
		switch f.mode {
		case modeSymlink:
			err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: f.path, Linkname: string(data), Mode: 0o777, ModTime: now, Format: tar.FormatPAX})
		case modeExec:
			err = file(f.path, 0o755, data)
		default:
			err = file(f.path, 0o644, data)
		}
		if err != nil {
			return fmt.Errorf("gitrepo: %w", err)
		}
	}
	packed2, sum, err := pw.finish()
	if err != nil {
		return err
	}

	// The .git initShallow and `git checkout --detach` leave.
	for _, d := range []string{".git", ".git/hooks", ".git/info", ".git/logs", ".git/objects", ".git/objects/info",
		".git/objects/pack", ".git/refs", ".git/refs/heads", ".git/refs/tags"} {
		if err := dir(d, 0o755); err != nil {
			return fmt.Errorf("gitrepo: %w", err)
		}
	}
	config := "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n" +
		"[remote \"origin\"]\n\turl = " + cloneURL + "\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
	reflog := fmt.Sprintf("%s %s hookci <hookci@localhost> %d +0000\tcheckout: moving from main to %s\n",
		strings.Repeat("0", 2*sha1.Size), sha, now.Unix(), sha)
	for _, f := range []struct {
		name string
		data []byte
	}{
		{".git/HEAD", []byte(sha + "\n")},
		{".git/config", []byte(config)},
		{".git/shallow", []byte(sha + "\n")},
		{".git/logs/HEAD", []byte(reflog)},
		{".git/index", checkoutIndex(files)},
	} {
		if err := file(f.name, 0o644, f.data); err != nil {
			return fmt.Errorf("gitrepo: %w", err)
		}
	}
	base := ".git/objects/pack/pack-" + hex.EncodeToString(sum)
	if err := file(base+".idx", 0o444, packIndex(packed2, sum)); err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	size, err := packTmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	if _, err := packTmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: base + ".pack", Mode: 0o444, Size: size, ModTime: now, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	if _, err := io.CopyN(tw, packTmp, size); err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	return nil
}

// checkoutIndex is the version 2 git index of a checkout of files: one
// entry per file, sorted by path as git sorts them, with zero stat data
// but the mode (agent.restatIndex fills the rest in from the files in the
// sandbox), no extension.
func checkoutIndex(files []treeFile) []byte {
	sorted := make([]treeFile, len(files))
	copy(sorted, files)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].path < sorted[j].path })
	var b bytes.Buffer
	b.WriteString("DIRC")
	binary.Write(&b, binary.BigEndian, uint32(2))
	binary.Write(&b, binary.BigEndian, uint32(len(sorted)))
	for _, f := range sorted {
		var stat [40]byte
		binary.BigEndian.PutUint32(stat[24:], f.mode)
		b.Write(stat[:])
		b.Write(f.id[:])
		binary.Write(&b, binary.BigEndian, uint16(min(len(f.path), 0xfff)))
		b.WriteString(f.path)
		// NUL-terminated and padded with NULs to a multiple of 8 bytes.
		n := 62 + len(f.path)
		b.Write(make([]byte, (n+8)&^7-n))
	}
	sum := sha1.Sum(b.Bytes())
	b.Write(sum[:])
	return b.Bytes()
}
