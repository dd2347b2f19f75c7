package gitrepo

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// packObject is one object written to a checkout's pack: its id, where its
// entry starts in the pack and the CRC-32 of the entry (the index keeps both).
type packObject struct {
	id     [sha1.Size]byte
	offset uint64
	crc    uint32
}

// packType is the pack entry type number of git's pack format for an
// object type (0: none).
func packType(typ string) byte {
	switch typ {
	case "commit":
		return 1
	case "tree":
		return 2
	case "blob":
		return 3
	case "tag":
		return 4
	}
	return 0
}

// initShallow writes into dir (existing, empty) the .git a `git init` and a
// `git fetch --depth=1 <mirror> <sha>` leave, without those processes (and
// the upload-pack, pack-objects and index-pack the fetch runs): the commit,
// its tree and every tree and blob under it read through the mirror's
// `cat-file --batch`, written as one undeltified pack with its version 2
// index, .git/shallow naming the commit, and origin pointing at cloneURL.
// It returns errNoBatch when the mirror has no batch reader or sha is not a
// SHA-1 id; the caller then runs git. Submodule entries (gitlinks) are not
// fetched, as git's shallow fetch does not fetch them either.
func (m *Mirror) initShallow(ctx context.Context, sha, dir, cloneURL string) error {
	if m.cache == nil || len(sha) != 2*sha1.Size || !ValidSHA(sha) {
		return errNoBatch
	}
	gitDir := filepath.Join(dir, ".git")
	for _, d := range []string{"hooks", "info", "objects/info", "objects/pack", "refs/heads", "refs/tags"} {
		if err := os.MkdirAll(filepath.Join(gitDir, d), 0o755); err != nil {
			return fmt.Errorf("gitrepo: %w", err)
		}
	}
	tmp, err := os.CreateTemp(filepath.Join(gitDir, "objects", "pack"), "tmp_pack_")
	if err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	defer os.Remove(tmp.Name())
	objs, sum, err := m.writePack(ctx, sha, tmp)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("gitrepo: %w", cerr)
	}
	if err != nil {
		return err
	}
	base := filepath.Join(gitDir, "objects", "pack", "pack-"+hex.EncodeToString(sum))
	if err := os.WriteFile(base+".idx", packIndex(objs, sum), 0o444); err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o444); err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	if err := os.Rename(tmp.Name(), base+".pack"); err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	config := "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n"
	plainURL := cloneURL != "" && !strings.ContainsAny(cloneURL, "\"\\\n\r\x00;# \t")
	if plainURL {
		config += "[remote \"origin\"]\n\turl = " + cloneURL + "\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
	}
	for name, content := range map[string]string{
		"HEAD":    "ref: refs/heads/main\n",
		"config":  config,
		"shallow": sha + "\n",
	} {
		if err := os.WriteFile(filepath.Join(gitDir, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("gitrepo: %w", err)
		}
	}
	if !plainURL { // git quotes what a plain config value cannot carry
		if _, err := git(ctx, dir, nil, "remote", "add", "origin", cloneURL); err != nil {
			return err
		}
	}
	return nil
}

// commitTree reads commit sha and returns it and the id of its tree.
func (m *Mirror) commitTree(ctx context.Context, sha string) (commit []byte, tree string, err error) {
	typ, commit, err := m.object(ctx, sha)
	if err != nil {
		return nil, "", fmt.Errorf("gitrepo: checkout %.12s: %w", sha, err)
	}
	if typ != "commit" {
		return nil, "", fmt.Errorf("gitrepo: checkout %.12s: a %s, not a commit", sha, typ)
	}
	tree, ok := strings.CutPrefix(string(commit), "tree ")
	if !ok || len(tree) < 2*sha1.Size {
		return nil, "", fmt.Errorf("gitrepo: checkout %.12s: malformed commit", sha)
	}
	return commit, tree[:2*sha1.Size], nil
}

// writePack writes the pack of commit sha and everything its tree holds to w
// and returns its objects and its checksum.
func (m *Mirror) writePack(ctx context.Context, sha string, w io.Writer) ([]packObject, []byte, error) {
	commit, treeHex, err := m.commitTree(ctx, sha)
	if err != nil {
		return nil, nil, err
	}

	// The objects are counted before the pack's header is written: the
	// blobs are listed from the trees first, then read one at a time.
	type entry struct {
		id   string
		typ  string
		data []byte // commit and trees, read while listing
	}
	list := []entry{{id: sha, typ: "commit", data: commit}}
	seen := map[string]bool{sha: true}
	var blobs []string
	queue := []string{treeHex}
	seen[treeHex] = true
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		typ, tree, err := m.object(ctx, id)
		if err != nil {
			return nil, nil, fmt.Errorf("gitrepo: checkout %.12s: tree %.12s: %w", sha, id, err)
		}
		if typ != "tree" {
			return nil, nil, fmt.Errorf("gitrepo: checkout %.12s: %.12s is a %s, not a tree", sha, id, typ)
		}
		list = append(list, entry{id: id, typ: "tree", data: tree})
		err = treeEntries(tree, sha1.Size, func(mode, _ string, raw []byte) error {
			child := hex.EncodeToString(raw)
			if seen[child] || mode == "160000" { // a submodule's commit is not in this repository
				return nil
			}
			seen[child] = true
			if mode == "40000" {
				queue = append(queue, child)
			} else {
				blobs = append(blobs, child)
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("gitrepo: checkout %.12s: malformed tree %.12s", sha, id)
		}
	}

	pw, err := newPackWriter(w, len(list)+len(blobs))
	if err != nil {
		return nil, nil, err
	}
	for _, e := range list {
		if err := pw.add(e.id, e.typ, e.data); err != nil {
			return nil, nil, err
		}
	}
	for _, id := range blobs {
		typ, data, err := m.object(ctx, id)
		if err != nil {
			return nil, nil, fmt.Errorf("gitrepo: checkout %.12s: object %.12s: %w", sha, id, err)
		}
		if err := pw.add(id, typ, data); err != nil {
			return nil, nil, err
		}
	}
	return pw.finish()
}

// packInput is an object to write to a pack.
type packInput struct {
	id, typ string
	data    []byte
}

// packWriter writes a pack of a known number of undeltified objects.
type packWriter struct {
	w     io.Writer
	h     hash.Hash
	pw    *countWriter
	zw    *zlib.Writer
	objs  []packObject
	count int
}

// newPackWriter writes the header of a pack of count objects to w.
func newPackWriter(w io.Writer, count int) (*packWriter, error) {
	h := sha1.New()
	p := &packWriter{w: w, h: h, pw: &countWriter{w: io.MultiWriter(w, h)}, count: count, objs: make([]packObject, 0, count)}
	p.zw, _ = zlib.NewWriterLevel(io.Discard, zlib.BestSpeed)
	var header [12]byte
	copy(header[:], "PACK")
	binary.BigEndian.PutUint32(header[4:], 2)
	binary.BigEndian.PutUint32(header[8:], uint32(count))
	if _, err := p.pw.Write(header[:]); err != nil {
		return nil, fmt.Errorf("gitrepo: %w", err)
	}
	return p, nil
}

// add writes object id (hex) of type typ.
func (p *packWriter) add(id, typ string, data []byte) error {
	if len(p.objs) == p.count {
		return fmt.Errorf("gitrepo: pack: more than %d objects", p.count)
	}
	o := packObject{offset: p.pw.n}
	if _, err := hex.Decode(o.id[:], []byte(id)); err != nil || len(id) != 2*sha1.Size {
		return fmt.Errorf("gitrepo: object id %q: %v", id, err)
	}
	t := packType(typ)
	if t == 0 {
		return fmt.Errorf("gitrepo: object %.12s: unknown type %q", id, typ)
	}
	crc := crc32.NewIEEE()
	ew := io.MultiWriter(p.pw, crc)
	if _, err := ew.Write(packEntryHeader(t, uint64(len(data)))); err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	p.zw.Reset(ew)
	if _, err := p.zw.Write(data); err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	if err := p.zw.Close(); err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	o.crc = crc.Sum32()
	p.objs = append(p.objs, o)
	return nil
}

// finish writes the pack's checksum and returns its objects and checksum;
// it fails unless every object announced was added.
func (p *packWriter) finish() ([]packObject, []byte, error) {
	if len(p.objs) != p.count {
		return nil, nil, fmt.Errorf("gitrepo: pack: %d objects written of %d", len(p.objs), p.count)
	}
	sum := p.h.Sum(nil)
	if _, err := p.w.Write(sum); err != nil {
		return nil, nil, fmt.Errorf("gitrepo: %w", err)
	}
	return p.objs, sum, nil
}

// packIndex returns the version 2 index of a pack: the fan-out table, the
// sorted ids, their entries' CRC-32s and offsets (large offsets in a table of
// their own), the pack's checksum and the index's own.
func packIndex(objs []packObject, packSum []byte) []byte {
	sort.Slice(objs, func(i, j int) bool { return bytes.Compare(objs[i].id[:], objs[j].id[:]) < 0 })
	var b bytes.Buffer
	b.Write([]byte{0xff, 't', 'O', 'c', 0, 0, 0, 2})
	var fan [256]uint32
	for _, o := range objs {
		fan[o.id[0]]++
	}
	var total uint32
	for _, n := range fan {
		total += n
		binary.Write(&b, binary.BigEndian, total)
	}
	for _, o := range objs {
		b.Write(o.id[:])
	}
	for _, o := range objs {
		binary.Write(&b, binary.BigEndian, o.crc)
	}
	var large []uint64
	for _, o := range objs {
		if o.offset < 1<<31 {
			binary.Write(&b, binary.BigEndian, uint32(o.offset))
			continue
		}
		binary.Write(&b, binary.BigEndian, uint32(1<<31|len(large)))
		large = append(large, o.offset)
	}
	for _, off := range large {
		binary.Write(&b, binary.BigEndian, off)
	}
	b.Write(packSum)
	sum := sha1.Sum(b.Bytes())
	b.Write(sum[:])
	return b.Bytes()
}

// packEntryHeader is a pack entry's header (indexPack reads it back): the
// entry type and the size, 4 bits of size in the first byte and 7 in each
// following one, least significant first.
func packEntryHeader(kind byte, size uint64) []byte {
	hdr := []byte{kind<<4 | byte(size&0x0f)}
	for size >>= 4; size > 0; size >>= 7 {
		hdr[len(hdr)-1] |= 0x80
		hdr = append(hdr, byte(size&0x7f))
	}
	return hdr
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n uint64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += uint64(n)
	return n, err
}
