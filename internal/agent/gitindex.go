package agent

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
)

// A checkout reaches a sandbox as a tar of its files and its .git, written
// on the server by git. Its files are created anew in the sandbox (other
// inodes, owners and change times), so the index's stat data no longer
// matches them and git plumbing that does not refresh the index first
// (`git diff-index --quiet HEAD`, common in version and "generated files
// are up to date" scripts) takes a fresh checkout for a modified one. After
// putting such a tar, the agent records the new files' stat data in the
// index, as git's own checkout leaves it (what `git update-index
// --refresh` would do, without a git process: under TCG one costs a
// microVM's first step ~270 ms). The contents are the ones the index
// names: they were just extracted from the same checkout.

// PutCheckout is PutFiles for a tar holding a git checkout: afterwards the
// index at index (relative to dir, e.g. ".git/index") gets the stat data of
// the files as they are in the sandbox. A tar without that index is put as
// by PutFiles.
func (c *Client) PutCheckout(ctx context.Context, dir, index string, tarStream io.Reader) error {
	return c.putFiles(ctx, url.Values{"dir": {dir}, "gitindex": {index}}, tarStream)
}

const (
	indexHeader    = 12
	indexEntryStat = 40 // ctime, mtime (seconds, nanoseconds), dev, ino, mode, uid, gid, size: 10 × 4 bytes
	modeGitlink    = 0o160000
	flagExtended   = 0x4000
	extSkipWT      = 0x4000
	extIntentToAdd = 0x2000
)

// restatIndex updates the stat data of every entry of the git index name
// (under root) from the file it names, and the index's checksum. Versions 2
// and 3 are read (what git writes unless told otherwise); another version,
// or no index at all, is left as it is. Submodules, skip-worktree and
// intent-to-add entries and entries whose file is missing keep their data.
func restatIndex(root *os.Root, name string) error {
	return restatIndexWith(root, name, root.Lstat)
}

// restatIndexWith is restatIndex with lstat, a root.Lstat that may go
// through directories kept open (extractor.lstat).
func restatIndexWith(root *os.Root, name string, lstat func(string) (fs.FileInfo, error)) error {
	name = filepath.Clean(filepath.FromSlash(name))
	if !filepath.IsLocal(name) {
		return &requestError{fmt.Sprintf("git index %q is not under the directory", name)}
	}
	f, err := root.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > 1<<30 {
		f.Close()
		return err // nil for a directory, a device, or a huge file: not an index of ours
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return err
	}
	if len(data) < indexHeader+sha1.Size || string(data[:4]) != "DIRC" {
		return nil
	}
	version := binary.BigEndian.Uint32(data[4:8])
	if version != 2 && version != 3 {
		return nil
	}
	body := data[:len(data)-sha1.Size]
	if sum := sha1.Sum(body); !bytes.Equal(sum[:], data[len(body):]) {
		return fmt.Errorf("git index %s: checksum mismatch", name)
	}
	n := binary.BigEndian.Uint32(data[8:12])
	off := indexHeader
	for i := uint32(0); i < n; i++ {
		e := body[off:]
		if len(e) < indexEntryStat+sha1.Size+2 {
			return fmt.Errorf("git index %s: entry %d truncated", name, i)
		}
		mode := binary.BigEndian.Uint32(e[24:28])
		flags := binary.BigEndian.Uint16(e[60:62])
		hdr, skip := 62, mode&0o170000 == modeGitlink
		if flags&flagExtended != 0 {
			if version < 3 || len(e) < 64 {
				return fmt.Errorf("git index %s: entry %d: extended flags in version %d", name, i, version)
			}
			ext := binary.BigEndian.Uint16(e[62:64])
			skip = skip || ext&(extSkipWT|extIntentToAdd) != 0
			hdr = 64
		}
		end := bytes.IndexByte(e[hdr:], 0)
		if end < 0 {
			return fmt.Errorf("git index %s: entry %d: unterminated path", name, i)
		}
		path := string(e[hdr : hdr+end])
		size := (hdr + end + 8) &^ 7 // the path's NUL and padding to a multiple of 8
		if size > len(e) {
			return fmt.Errorf("git index %s: entry %d truncated", name, i)
		}
		if p := filepath.FromSlash(path); !skip && filepath.IsLocal(p) {
			if st, err := lstat(p); err == nil {
				putStat(e[:indexEntryStat], st)
			}
		}
		off += size
	}
	sum := sha1.Sum(body)
	copy(data[len(body):], sum[:])
	w, err := root.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}
