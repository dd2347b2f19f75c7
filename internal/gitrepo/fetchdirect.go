package gitrepo

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/hookci/hookci/internal/trace"
)

// A fetch into a mirror by `git fetch` runs five processes here (fetch,
// upload-pack, pack-objects, unpack-objects, and rev-list for the
// connectivity check): 11–12 ms for one new commit, the largest part of
// planning (bench/phases). fetchDirect does the client's half in process:
// one protocol v2 fetch request (the commits wanted, the tips of earlier
// fetches as haves, "done"), the pack indexed here (every object inflated,
// deltas applied, ids computed, a version 2 index written), every object
// the new objects name checked present (in the pack or, in one batch, in
// the mirror), then pack, index and refs written the way git writes them
// (temporary file, fsync, rename; the ref through its .lock, not synced,
// as git's default). Only the
// server's half still runs: git upload-pack for a file:// URL, the server's
// own for http(s). Anything it does not handle — a mirror with nothing to
// negotiate from (the first fetch: git's clone path), a shallow mirror, a
// SHA-256 id, another transport, a pack over directMaxPack, a git without
// cat-file --batch-command (before 2.36), a server that
// does not answer protocol v2, an operator's git configuration git would
// apply to the request — returns an error and the caller runs git fetch as
// before.

// Limits of the in-process fetch, which holds a pack and its objects in
// memory; past them git fetch (streaming to disk) does the work. A push's
// fetch is a few kilobytes; a bigger one pays for the bytes received twice.
const (
	directMaxPack     = 8 << 20  // pack bytes received
	directMaxObjects  = 1 << 18  // objects in the pack
	directMaxInflated = 64 << 20 // all objects inflated
	directMaxDepth    = 10000    // delta chain
)

// errNotDirect: the in-process fetch does not handle this one.
var errNotDirect = errors.New("not fetched in process")

// fetchCred is how a fetch authenticates: the environment git fetch gets
// (the credential header; for a job, no operator configuration), the same
// credential as an Authorization header for the in-process fetch, and
// whether the operator's git configuration applies (planning's own fetch).
type fetchCred struct {
	env      []string
	header   string
	operator bool
}

// directOK reports whether the in-process fetch may fetch from url with
// cred into the mirror dir: file:// always; http(s) only when git would send
// the same request — no operator setting git applies to it (any url.*
// rewrite, or an http.* setting matching the URL: proxy, CA, headers,
// cookies; credential helpers only matter after a 401, when git takes
// over), no git-only proxy variable, and GIT_SSL_CAINFO (which git uses in
// place of the system's CAs) readable. A job's fetch runs without the
// operator's global and system configuration, as its git fetch does.
func (c *Cache) directOK(dir, url string, cred fetchCred) bool {
	https := strings.HasPrefix(url, "https://")
	switch {
	case strings.HasPrefix(url, "file://"):
		return true
	case https, strings.HasPrefix(url, "http://"):
	default:
		return false
	}
	if os.Getenv("ALL_PROXY") != "" || os.Getenv("all_proxy") != "" || https && os.Getenv("GIT_SSL_CAPATH") != "" {
		return false
	}
	if https && directClient() == nil {
		return false
	}
	return !c.gitHTTPConfig(dir, url, cred)
}

// gitHTTPConfig reports (once per URL) whether git's configuration, as a
// fetch with cred into dir sees it, has a url.* rewrite or an http.*
// setting for url.
func (c *Cache) gitHTTPConfig(dir, url string, cred fetchCred) bool {
	key := url
	if !cred.operator {
		key = "job " + url
	}
	c.mu.Lock()
	v, ok := c.httpConfig[key]
	c.mu.Unlock()
	if ok {
		return v
	}
	var env []string
	if !cred.operator {
		env = jobEnv("")
	}
	set := func(args ...string) bool {
		out, err := Command(context.Background(), dir, env, append([]string{"config"}, args...)...).Output()
		var exit *exec.ExitError
		// git config exits 1 when nothing matches.
		return len(bytes.TrimSpace(out)) > 0 || err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1)
	}
	v = set("--get-regexp", `^url\.`) || set("--get-urlmatch", "http", url)
	c.mu.Lock()
	if c.httpConfig == nil {
		c.httpConfig = map[string]bool{}
	}
	c.httpConfig[key] = v
	c.mu.Unlock()
	return v
}

// fetchDirect fetches the commits want (missing from m) from url in
// process; see the comment at the top of this file.
func (c *Cache) fetchDirect(ctx context.Context, m *Mirror, url string, cred fetchCred, want []string) error {
	defer trace.Begin(ctx, "fetch (in process)")()
	for _, w := range want {
		if len(w) != 2*sha1.Size || !ValidSHA(w) {
			return fmt.Errorf("%w: %s is not a SHA-1 id", errNotDirect, w)
		}
	}
	if _, err := os.Stat(filepath.Join(m.Dir, "shallow")); err == nil {
		return fmt.Errorf("%w: the mirror is shallow", errNotDirect)
	}
	haves, err := fetchedTips(m.Dir)
	if err != nil {
		return err
	}
	if len(haves) == 0 {
		return fmt.Errorf("%w: nothing to negotiate from", errNotDirect)
	}
	req := fetchRequest(want, haves)
	var pack []byte
	switch {
	case strings.HasPrefix(url, "file:///"):
		pack, err = uploadPackLocal(ctx, m.Dir, strings.TrimPrefix(url, "file://"), req)
	case strings.HasPrefix(url, "file://"):
		return fmt.Errorf("%w: not an absolute file:// URL", errNotDirect)
	default:
		pack, err = uploadPackHTTP(ctx, url, cred.header, req)
	}
	if err != nil {
		return err
	}
	objs, err := indexPack(pack)
	if err != nil {
		return fmt.Errorf("gitrepo: the fetched pack: %w", err)
	}
	if err := m.checkConnected(ctx, objs, want); err != nil {
		return err
	}
	if err := installPack(m.Dir, pack, objs); err != nil {
		return err
	}
	for i, sha := range want {
		if err := writeRef(m.Dir, fetchedRef+strconv.Itoa(i), sha); err != nil {
			return err
		}
	}
	return nil
}

// fetchedTips returns the commits the mirror's refs/hookci/fetched/* name,
// loose or packed: what earlier fetches brought, with everything under them.
func fetchedTips(dir string) ([]string, error) {
	seen := map[string]bool{}
	var tips []string
	add := func(sha string) {
		if len(sha) == 2*sha1.Size && ValidSHA(sha) && !seen[sha] {
			seen[sha] = true
			tips = append(tips, sha)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "packed-refs")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if sha, ref, ok := strings.Cut(line, " "); ok && strings.HasPrefix(ref, fetchedRef) {
				add(sha)
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("gitrepo: %w", err)
	}
	loose := filepath.Join(dir, filepath.FromSlash(fetchedRef))
	ents, err := os.ReadDir(loose)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("gitrepo: %w", err)
	}
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasSuffix(e.Name(), ".lock") {
			if b, err := os.ReadFile(filepath.Join(loose, e.Name())); err == nil {
				add(strings.TrimSpace(string(b)))
			}
		}
	}
	return tips, nil
}

// pktLine is one pkt-line of git's wire protocol.
func pktLine(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }

// fetchRequest is a protocol v2 fetch command: the wants, the haves, done
// (one round: the server answers with the pack at once), no progress.
func fetchRequest(want, haves []string) []byte {
	var b strings.Builder
	b.WriteString(pktLine("command=fetch\n"))
	b.WriteString(pktLine("object-format=sha1\n"))
	b.WriteString("0001")
	b.WriteString(pktLine("ofs-delta\n"))
	b.WriteString(pktLine("no-progress\n"))
	for _, w := range want {
		b.WriteString(pktLine("want " + w + "\n"))
	}
	for _, h := range haves {
		b.WriteString(pktLine("have " + h + "\n"))
	}
	b.WriteString(pktLine("done\n"))
	b.WriteString("0000")
	return []byte(b.String())
}

// readPkt reads one pkt-line: its payload, or the special packet it is
// (0 flush, 1 delimiter, 2 response end) with a nil payload.
func readPkt(r io.Reader) ([]byte, int, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, 0, err
	}
	n, err := strconv.ParseUint(string(h[:]), 16, 16)
	if err != nil {
		return nil, 0, fmt.Errorf("bad pkt-line length %q", h[:])
	}
	if n < 4 {
		return nil, int(n), nil
	}
	b := make([]byte, n-4)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, 0, err
	}
	return b, -1, nil
}

// uploadPackLocal runs git upload-pack on the repository at path (a file://
// URL's), reads its protocol v2 capabilities, sends req and returns the pack.
func uploadPackLocal(ctx context.Context, mirrorDir, path string, req []byte) ([]byte, error) {
	// As git fetch runs it: a work tree's path finds its .git.
	cmd := Command(ctx, mirrorDir, []string{"GIT_PROTOCOL=version=2"}, "upload-pack", path)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := bufio.NewReaderSize(out, 64<<10)
	pack, err := func() ([]byte, error) {
		defer in.Close()
		if err := readCapabilities(r); err != nil {
			return nil, err
		}
		if _, err := in.Write(req); err != nil {
			return nil, err
		}
		return readFetchResponse(r)
	}()
	if err != nil {
		cmd.Process.Kill()
	}
	werr := cmd.Wait()
	if err == nil && werr != nil {
		err = werr
	}
	if err != nil {
		return nil, fmt.Errorf("%w: git upload-pack: %v: %s", errNotDirect, err, strings.TrimSpace(stderr.String()))
	}
	return pack, nil
}

// readCapabilities reads a protocol v2 capability advertisement; the
// server must speak version 2, offer fetch and use SHA-1.
func readCapabilities(r io.Reader) error {
	first, fetch := true, false
	for {
		b, special, err := readPkt(r)
		if err != nil {
			return err
		}
		if special == 0 {
			break
		}
		line := strings.TrimSuffix(string(b), "\n")
		if first && line != "version 2" {
			return fmt.Errorf("the server does not speak protocol v2 (%q)", line)
		}
		first = false
		if line == "fetch" || strings.HasPrefix(line, "fetch=") {
			fetch = true
		}
		if v, ok := strings.CutPrefix(line, "object-format="); ok && v != "sha1" {
			return fmt.Errorf("object format %s", v)
		}
	}
	if !fetch {
		return errors.New("the server does not offer fetch")
	}
	return nil
}

// readFetchResponse reads a fetch response (sent "done": no
// acknowledgments) and returns the pack of its packfile section.
func readFetchResponse(r io.Reader) ([]byte, error) {
	var pack []byte
	inPack := false
	for {
		b, special, err := readPkt(r)
		if err != nil {
			return nil, err
		}
		switch {
		case special == 0:
			if !inPack {
				return nil, errors.New("the response has no pack")
			}
			return pack, nil
		case special > 0:
			if inPack {
				return nil, errors.New("unexpected delimiter in the pack")
			}
			continue
		case bytes.HasPrefix(b, []byte("ERR ")):
			return nil, fmt.Errorf("server: %s", strings.TrimSpace(string(b[4:])))
		case !inPack:
			if string(b) != "packfile\n" {
				return nil, fmt.Errorf("unexpected section %q", strings.TrimSpace(string(b)))
			}
			inPack = true
		case len(b) == 0:
			return nil, errors.New("empty sideband packet")
		case b[0] == 1:
			if len(pack)+len(b)-1 > directMaxPack {
				return nil, fmt.Errorf("%w: the pack is over %d bytes", errNotDirect, directMaxPack)
			}
			pack = append(pack, b[1:]...)
		case b[0] == 2: // progress
		case b[0] == 3:
			return nil, fmt.Errorf("server: %s", strings.TrimSpace(string(b[1:])))
		default:
			return nil, fmt.Errorf("unknown sideband %d", b[0])
		}
	}
}

// uploadPackHTTP posts req to the smart HTTP endpoint of url and returns
// the pack. Redirects are not followed (git's default for this request).
func uploadPackHTTP(ctx context.Context, url, auth string, req []byte) ([]byte, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(url, "/")+"/git-upload-pack", bytes.NewReader(req))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotDirect, err)
	}
	hr.Header.Set("Content-Type", "application/x-git-upload-pack-request")
	hr.Header.Set("Accept", "application/x-git-upload-pack-result")
	hr.Header.Set("Git-Protocol", "version=2")
	hr.Header.Set("User-Agent", "git/hookci")
	if auth != "" {
		hr.Header.Set("Authorization", auth)
	}
	client := directClient()
	if client == nil {
		return nil, fmt.Errorf("%w: no HTTP client", errNotDirect)
	}
	resp, err := client.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotDirect, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-git-upload-pack-result" {
		return nil, fmt.Errorf("%w: upload-pack answered %s (%s)", errNotDirect, resp.Status, resp.Header.Get("Content-Type"))
	}
	pack, err := readFetchResponse(bufio.NewReaderSize(io.LimitReader(resp.Body, directMaxPack+1<<20), 64<<10))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotDirect, err)
	}
	return pack, nil
}

// directClient is the in-process fetch's client (nil: none can be made):
// proxies from the environment, as git takes them; GIT_SSL_CAINFO's CAs
// in place of the system's when it is set, as git does; no redirects.
var directClient = sync.OnceValue(func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if f := os.Getenv("GIT_SSL_CAINFO"); f != "" {
		pem, err := os.ReadFile(f)
		pool := x509.NewCertPool()
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			return nil
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
})

// packEntry is one object of a received pack.
type packEntry struct {
	off, end int // where its entry starts and ends in the pack
	kind     byte
	baseOff  int             // an offset delta's base entry
	baseID   [sha1.Size]byte // a reference delta's base object
	typ      byte            // the object's type, once resolved
	data     []byte          // inflated: the object, or (until resolved) the delta
	id       [sha1.Size]byte
	state    byte // 0 unresolved, 1 resolving, 2 resolved
}

var objTypeName = [...]string{1: "commit", 2: "tree", 3: "blob", 4: "tag"}

// indexPack parses a whole pack (checksum, every entry inflated to its
// stated size, nothing after the last), resolves its deltas and returns
// its objects with their ids. Every limit and malformation is an error.
func indexPack(pack []byte) ([]packEntry, error) {
	if len(pack) < 32 || string(pack[:4]) != "PACK" {
		return nil, errors.New("not a pack")
	}
	if v := binary.BigEndian.Uint32(pack[4:8]); v != 2 && v != 3 {
		return nil, fmt.Errorf("pack version %d", v)
	}
	body := pack[:len(pack)-sha1.Size]
	if sum := sha1.Sum(body); !bytes.Equal(sum[:], pack[len(body):]) {
		return nil, errors.New("pack checksum mismatch")
	}
	n := binary.BigEndian.Uint32(pack[8:12])
	if n > directMaxObjects || int(n) > (len(body)-12)/2 {
		return nil, fmt.Errorf("%d objects in a pack of %d bytes", n, len(pack))
	}
	objs := make([]packEntry, n)
	byOff := make(map[int]int, n)
	var zr io.ReadCloser
	total, pos := 0, 12
	for i := range objs {
		e := &objs[i]
		e.off = pos
		if pos >= len(body) {
			return nil, errors.New("pack truncated")
		}
		c := body[pos]
		pos++
		e.kind = c >> 4 & 7
		size, shift := int(c&15), 4
		for c&0x80 != 0 {
			if pos >= len(body) || shift > 28 {
				return nil, errors.New("bad entry header")
			}
			c = body[pos]
			pos++
			size |= int(c&0x7f) << shift
			shift += 7
		}
		switch e.kind {
		case 1, 2, 3, 4:
		case 6:
			if pos >= len(body) {
				return nil, errors.New("bad delta offset")
			}
			c = body[pos]
			pos++
			ofs := int(c & 0x7f)
			for c&0x80 != 0 {
				if pos >= len(body) || ofs > 1<<40 {
					return nil, errors.New("bad delta offset")
				}
				c = body[pos]
				pos++
				ofs = (ofs+1)<<7 | int(c&0x7f)
			}
			e.baseOff = e.off - ofs
			if _, ok := byOff[e.baseOff]; !ok || ofs <= 0 {
				return nil, errors.New("delta base is not an earlier entry")
			}
		case 7:
			if pos+sha1.Size > len(body) {
				return nil, errors.New("bad delta base")
			}
			copy(e.baseID[:], body[pos:])
			pos += sha1.Size
		default:
			return nil, fmt.Errorf("entry type %d", e.kind)
		}
		if total += size; total > directMaxInflated {
			return nil, fmt.Errorf("%w: over %d bytes inflated", errNotDirect, directMaxInflated)
		}
		br := bytes.NewReader(body[pos:])
		var err error
		if zr == nil {
			zr, err = zlib.NewReader(br)
		} else {
			err = zr.(zlib.Resetter).Reset(br, nil)
		}
		if err != nil {
			return nil, fmt.Errorf("entry at %d: %w", e.off, err)
		}
		e.data = make([]byte, size)
		if _, err := io.ReadFull(zr, e.data); err != nil {
			return nil, fmt.Errorf("entry at %d: %w", e.off, err)
		}
		// The stream must end here: this reads its checksum.
		if k, err := zr.Read(make([]byte, 1)); k != 0 || err != io.EOF {
			return nil, fmt.Errorf("entry at %d: longer than its stated %d bytes", e.off, size)
		}
		pos = len(body) - br.Len()
		e.end = pos
		byOff[e.off] = i
	}
	if pos != len(body) {
		return nil, errors.New("data after the last entry")
	}
	byID := make(map[[sha1.Size]byte]int, n)
	var resolve func(i, depth int) error
	resolve = func(i, depth int) (err error) {
		e := &objs[i]
		switch {
		case e.state == 2:
			return nil
		case e.state == 1:
			return errors.New("delta cycle")
		case depth > directMaxDepth:
			return errors.New("delta chain too deep")
		}
		e.state = 1
		defer func() {
			if err != nil {
				e.state = 0
			}
		}()
		if e.kind >= 6 {
			b, ok := byOff[e.baseOff], true
			if e.kind == 7 {
				if b, ok = byID[e.baseID]; !ok {
					return errNoBase
				}
			}
			if err := resolve(b, depth+1); err != nil {
				return err
			}
			base := &objs[b]
			data, err := applyDelta(base.data, e.data)
			if err != nil {
				return fmt.Errorf("delta at %d: %w", e.off, err)
			}
			if total += len(data) - len(e.data); total > directMaxInflated {
				return fmt.Errorf("%w: over %d bytes inflated", errNotDirect, directMaxInflated)
			}
			e.typ, e.data = base.typ, data
		} else {
			e.typ = e.kind
		}
		h := sha1.New()
		fmt.Fprintf(h, "%s %d\x00", objTypeName[e.typ], len(e.data))
		h.Write(e.data)
		h.Sum(e.id[:0])
		if _, dup := byID[e.id]; dup {
			return fmt.Errorf("object %x twice in the pack", e.id)
		}
		byID[e.id] = i
		e.state = 2
		return nil
	}
	// Reference deltas may name a base resolved only later: resolve in
	// rounds until a round makes no progress.
	for left := len(objs); left > 0; {
		progress := false
		left = 0
		for i := range objs {
			if objs[i].state == 2 {
				continue
			}
			switch err := resolve(i, 0); {
			case err == nil:
				progress = true
			case errors.Is(err, errNoBase):
				left++
			default:
				return nil, err
			}
		}
		if left > 0 && !progress {
			return nil, fmt.Errorf("%d deltas against objects not in the pack", left)
		}
	}
	for i := range objs {
		e := &objs[i]
		e.data = e.data[:len(e.data):len(e.data)]
	}
	return objs, nil
}

var errNoBase = errors.New("delta base not in the pack")

// applyDelta applies a git delta to base.
func applyDelta(base, delta []byte) ([]byte, error) {
	src, delta, ok := deltaSize(delta)
	if !ok || src != len(base) {
		return nil, errors.New("base size mismatch")
	}
	dst, delta, ok := deltaSize(delta)
	if !ok || dst > directMaxInflated {
		return nil, errors.New("bad result size")
	}
	out := make([]byte, 0, dst)
	for len(delta) > 0 {
		op := delta[0]
		delta = delta[1:]
		switch {
		case op&0x80 != 0:
			var off, size int
			for bit := 0; bit < 7; bit++ {
				if op&(1<<bit) == 0 {
					continue
				}
				if len(delta) == 0 {
					return nil, errors.New("truncated copy")
				}
				if bit < 4 {
					off |= int(delta[0]) << (8 * bit)
				} else {
					size |= int(delta[0]) << (8 * (bit - 4))
				}
				delta = delta[1:]
			}
			if size == 0 {
				size = 0x10000
			}
			if off+size > len(base) || len(out)+size > dst {
				return nil, errors.New("copy out of bounds")
			}
			out = append(out, base[off:off+size]...)
		case op != 0:
			if int(op) > len(delta) || len(out)+int(op) > dst {
				return nil, errors.New("insert out of bounds")
			}
			out = append(out, delta[:op]...)
			delta = delta[op:]
		default:
			return nil, errors.New("reserved delta opcode")
		}
	}
	if len(out) != dst {
		return nil, errors.New("result size mismatch")
	}
	return out, nil
}

// deltaSize reads one of a delta's two size varints.
func deltaSize(d []byte) (int, []byte, bool) {
	size, shift := 0, 0
	for i, c := range d {
		if shift > 35 {
			return 0, nil, false
		}
		size |= int(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			return size, d[i+1:], true
		}
	}
	return 0, nil, false
}

// checkConnected makes sure every object the pack's objects name (a
// commit's tree and parents, a tree's entries but submodule commits, a
// tag's object), and every commit wanted, is in the pack or already in the
// mirror — what git fetch's rev-list --objects check makes sure of — so a
// ref is never left on a commit whose history is not all there. A wanted
// commit in the pack must be a commit.
func (m *Mirror) checkConnected(ctx context.Context, objs []packEntry, want []string) error {
	in := make(map[[sha1.Size]byte]byte, len(objs))
	for _, e := range objs {
		in[e.id] = e.typ
	}
	ext := map[string]bool{}
	need := func(id []byte) {
		var k [sha1.Size]byte
		copy(k[:], id)
		if _, ok := in[k]; !ok {
			ext[hex.EncodeToString(id)] = true
		}
	}
	for _, e := range objs {
		switch e.typ {
		case 1, 4:
			if err := headerIDs(e.data, e.typ, need); err != nil {
				return fmt.Errorf("gitrepo: object %x: %w", e.id, err)
			}
		case 2:
			err := treeEntries(e.data, sha1.Size, func(mode, _ string, id []byte) error {
				if mode != "160000" { // a submodule's commit is not in this repository
					need(id)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("gitrepo: tree %x: %w", e.id, err)
			}
		}
	}
	for _, w := range want {
		var k [sha1.Size]byte
		hex.Decode(k[:], []byte(w))
		if typ, ok := in[k]; !ok {
			ext[w] = true
		} else if typ != 1 {
			return fmt.Errorf("%w: %s is a %s, not a commit", errNotDirect, w, objTypeName[typ])
		}
	}
	if len(ext) == 0 {
		return nil
	}
	ids := make([]string, 0, len(ext))
	for id := range ext {
		ids = append(ids, id)
	}
	miss, err := m.cache.catFile(m.Dir).missing(ctx, ids)
	if err != nil {
		return err
	}
	if len(miss) > 0 {
		return fmt.Errorf("%w: the pack is incomplete: %d objects it needs are not in the mirror (%s…)", errNotDirect, len(miss), miss[0])
	}
	return nil
}

// headerIDs calls need with the ids a commit (its tree, its parents) or a
// tag (its object) names in its header.
func headerIDs(data []byte, typ byte, need func([]byte)) error {
	header, _, _ := bytes.Cut(data, []byte("\n\n"))
	sawTree := false
	for _, line := range bytes.Split(header, []byte("\n")) {
		k, v, _ := bytes.Cut(line, []byte(" "))
		switch {
		case typ == 1 && string(k) == "tree", typ == 1 && string(k) == "parent", typ == 4 && string(k) == "object":
			id := make([]byte, sha1.Size)
			if len(v) != 2*sha1.Size {
				return fmt.Errorf("bad %s line", k)
			}
			if _, err := hex.Decode(id, v); err != nil {
				return fmt.Errorf("bad %s line", k)
			}
			need(id)
			sawTree = sawTree || string(k) != "parent"
		}
	}
	if !sawTree {
		return errors.New("no tree or object line")
	}
	return nil
}

// installPack writes the pack and its version 2 index into the mirror as
// git's index-pack does: each to a temporary file, synced, then renamed,
// the pack first (git finds packs by their index).
func installPack(dir string, pack []byte, objs []packEntry) error {
	sum := pack[len(pack)-sha1.Size:]
	name := filepath.Join(dir, "objects", "pack", "pack-"+hex.EncodeToString(sum))
	if _, err := os.Stat(name + ".idx"); err == nil {
		return nil // this very pack is there already
	}
	po := make([]packObject, len(objs))
	for i, e := range objs {
		po[i] = packObject{id: e.id, offset: uint64(e.off), crc: crc32.ChecksumIEEE(pack[e.off:e.end])}
	}
	idx := packIndex(po, sum) // checkoutpack.go
	if err := writeSynced(name+".pack", pack, 0o444); err != nil {
		return err
	}
	if err := writeSynced(name+".idx", idx, 0o444); err != nil {
		os.Remove(name + ".pack") // a pack without its index is never read
		return err
	}
	return nil
}

// writeSynced writes data to path through a temporary file beside it,
// synced before the rename.
func writeSynced(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "tmp_")
	if err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), mode)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("gitrepo: %w", err)
	}
	return nil
}

// writeRef points ref (refs/...) at sha as git does: through ref.lock,
// created exclusively (a git process holding it makes this fail), then
// renamed over the ref; not synced, as git's default core.fsync does not
// sync refs (it does packs and their indexes: installPack). A loose ref
// overrides one in packed-refs.
func writeRef(dir, ref, sha string) error {
	path := filepath.Join(dir, filepath.FromSlash(ref))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	lock := path + ".lock"
	f, err := os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("gitrepo: %s: %w", ref, err)
	}
	_, err = f.WriteString(sha + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(lock, path)
	}
	if err != nil {
		os.Remove(lock)
		return fmt.Errorf("gitrepo: %s: %w", ref, err)
	}
	return nil
}
