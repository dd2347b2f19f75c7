package gitrepo

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/gitrepo/gittest"
	"github.com/hookci/hookci/internal/trace"
)

// tracedCtx records the spans of what it is passed to.
func tracedCtx() (context.Context, *bytes.Buffer) {
	var b bytes.Buffer
	return trace.NewContext(context.Background(), trace.New(&b)), &b
}

// spanNames lists the names of the spans recorded in b.
func spanNames(t *testing.T, b *bytes.Buffer) []string {
	t.Helper()
	spans, err := trace.Read(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range spans {
		names = append(names, s.Name)
	}
	b.Reset()
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// historyWithDeltas makes a repository whose later commits change large
// files a little (so the server's pack holds deltas), a file in a
// subdirectory, an executable, a symlink and a submodule commit.
func historyWithDeltas(t *testing.T, server, name string) *gittest.Repo {
	src := gittest.New(t, server, name)
	big := strings.Repeat("line of a long file that changes a little each time\n", 400)
	src.Commit("first", map[string]string{"big.txt": big, "dir/sub/a.txt": "a\n", "README.md": "readme\n"})
	src.Push("main")
	return src
}

// TestFetchDirectMatchesGit: a fetch after the first (which git does, having
// nothing to negotiate from) runs in process, over file:// and over smart
// HTTP with a token; what it leaves passes git fsck --full, every commit is
// readable, and the index it wrote is byte for byte the one git index-pack
// writes for the same pack.
func TestFetchDirectMatchesGit(t *testing.T) {
	for _, transport := range []string{"file", "http"} {
		t.Run(transport, func(t *testing.T) {
			server := t.TempDir()
			src := historyWithDeltas(t, server, "octo/deltas")
			base := "file://" + server
			var token func(context.Context, string) (string, error)
			var hs *gittest.HTTPServer
			if transport == "http" {
				hs = gittest.NewHTTPServer(t, server)
				hs.Private("octo/deltas", "s3cret")
				base = hs.URL
				token = func(context.Context, string) (string, error) { return "s3cret", nil }
			}
			cache := New(t.TempDir(), base, token)
			defer cache.Close()
			ctx, spans := tracedCtx()
			first := src.Head()
			m, err := cache.Fetch(ctx, "octo/deltas", first)
			if err != nil {
				t.Fatal(err)
			}
			if names := spanNames(t, spans); !contains(names, "git fetch") {
				t.Fatalf("the first fetch did not run git fetch: %v", names)
			}
			var shas []string
			big := strings.Repeat("line of a long file that changes a little each time\n", 400)
			for i := 0; i < 4; i++ {
				big += fmt.Sprintf("added line %d\n", i)
				src.Commit(fmt.Sprint("change ", i), map[string]string{"big.txt": big, fmt.Sprintf("dir/sub/n%d.txt", i): fmt.Sprint(i)})
				shas = append(shas, src.Head())
			}
			src.Push("main")
			packsBefore := packsIn(t, m.Dir)
			if _, err := cache.Fetch(ctx, "octo/deltas", shas[3], shas[1]); err != nil {
				t.Fatal(err)
			}
			names := spanNames(t, spans)
			if !contains(names, "fetch (in process)") || contains(names, "git fetch") {
				t.Fatalf("the second fetch: spans %v, want the in-process fetch and no git fetch", names)
			}
			if hs != nil {
				for _, p := range hs.Passwords("octo/deltas") {
					if p != "s3cret" {
						t.Errorf("the server saw credential %q", p)
					}
				}
			}
			if out, err := exec.Command("git", "-C", m.Dir, "fsck", "--full", "--strict").CombinedOutput(); err != nil {
				t.Fatalf("git fsck: %v\n%s", err, out)
			}
			for i, s := range shas {
				if !m.has(context.Background(), s) {
					t.Errorf("commit %d (%s) not in the mirror", i, s)
				}
			}
			if got := gitIn(t, m.Dir, "show", shas[3]+":big.txt"); got != strings.TrimSuffix(big, "\n") {
				t.Errorf("big.txt at the last commit reads back differently")
			}
			if refs := gitIn(t, m.Dir, "for-each-ref", "--format=%(objectname) %(refname)", "refs/hookci/fetched/"); refs != shas[3]+" refs/hookci/fetched/0\n"+shas[1]+" refs/hookci/fetched/1" {
				t.Errorf("refs: %q", refs)
			}
			var added []string
			for _, p := range packsIn(t, m.Dir) {
				if !contains(packsBefore, p) {
					added = append(added, p)
				}
			}
			if len(added) != 1 {
				t.Fatalf("packs added: %v, want one", added)
			}
			ours, err := os.ReadFile(added[0])
			if err != nil {
				t.Fatal(err)
			}
			packFile := strings.TrimSuffix(added[0], ".idx") + ".pack"
			theirs := filepath.Join(t.TempDir(), "git.idx")
			if out, err := exec.Command("git", "index-pack", "-o", theirs, packFile).CombinedOutput(); err != nil {
				t.Fatalf("git index-pack: %v\n%s", err, out)
			}
			if want, _ := os.ReadFile(theirs); !bytes.Equal(ours, want) {
				t.Errorf("the index differs from git index-pack's (%d bytes against %d)", len(ours), len(want))
			}
			if out := gitIn(t, m.Dir, "verify-pack", "-v", packFile); !strings.Contains(out, "chain length") {
				t.Errorf("the pack has no deltas, the test does not test them:\n%s", out)
			}
		})
	}
}

func packsIn(t *testing.T, dir string) []string {
	t.Helper()
	idx, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.idx"))
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// TestFetchDirectFallsBack: what the in-process fetch does not handle goes
// to git fetch and still works — a commit the server no longer has among
// its branches but still holds, a mirror made shallow, a pack over the
// size limit is not tested here (32 MiB) — and a commit that is not there
// at all fails with git's error after both.
func TestFetchDirectFallsBack(t *testing.T) {
	server := t.TempDir()
	src := historyWithDeltas(t, server, "octo/fall")
	cache := New(t.TempDir(), "file://"+server, nil)
	defer cache.Close()
	ctx, spans := tracedCtx()
	m, err := cache.Fetch(ctx, "octo/fall", src.Head())
	if err != nil {
		t.Fatal(err)
	}
	spanNames(t, spans)
	// Shallow: git's fetch handles the boundary.
	if err := os.WriteFile(filepath.Join(m.Dir, "shallow"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	next := src.Commit("next", map[string]string{"n.txt": "n\n"})
	src.Push("main")
	if _, err := cache.Fetch(ctx, "octo/fall", next); err != nil {
		t.Fatal(err)
	}
	if names := spanNames(t, spans); !contains(names, "git fetch") {
		t.Errorf("a shallow mirror was not fetched by git: %v", names)
	}
	os.Remove(filepath.Join(m.Dir, "shallow"))
	// A commit nowhere: both fail, the error is git's.
	_, err = cache.Fetch(ctx, "octo/fall", strings.Repeat("ab", 20))
	if err == nil {
		t.Fatal("fetching a commit that does not exist succeeded")
	}
	names := spanNames(t, spans)
	if !contains(names, "fetch (in process)") || !contains(names, "git fetch") {
		t.Errorf("spans %v: want the in-process attempt, then git", names)
	}
}

// TestIndexPackMatchesGit: packs git pack-objects writes (full and thin-
// less, with offset deltas; and with reference deltas) index to the same
// ids git index-pack computes.
func TestIndexPackMatchesGit(t *testing.T) {
	server := t.TempDir()
	src := historyWithDeltas(t, server, "octo/idx")
	big := strings.Repeat("x y z\n", 3000)
	for i := 0; i < 6; i++ {
		big = strings.Replace(big, "x", fmt.Sprint(i), 1)
		src.Commit(fmt.Sprint("c", i), map[string]string{"big.txt": big})
	}
	for _, flags := range [][]string{{"--delta-base-offset"}, {}} {
		args := append([]string{"-C", src.Work, "pack-objects", "--stdout", "--revs"}, flags...)
		cmd := exec.Command("git", args...)
		cmd.Stdin = strings.NewReader("HEAD\n")
		pack, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		objs, err := indexPack(pack)
		if err != nil {
			t.Fatalf("%v: %v", flags, err)
		}
		kinds := map[byte]int{}
		var ids []string
		for _, o := range objs {
			kinds[o.kind]++
			ids = append(ids, hex.EncodeToString(o.id[:]))
		}
		p := filepath.Join(t.TempDir(), "p.pack")
		os.WriteFile(p, pack, 0o644)
		out, err := exec.Command("git", "index-pack", "-v", p).CombinedOutput()
		if err != nil {
			t.Fatalf("git index-pack: %v\n%s", err, out)
		}
		vp, err := exec.Command("git", "verify-pack", "-v", strings.TrimSuffix(p, ".pack")+".idx").Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(vp), "\n") {
			if f := strings.Fields(line); len(f) >= 5 && len(f[0]) == 40 && !contains(ids, f[0]) {
				t.Errorf("%v: git finds %s in the pack, indexPack does not", flags, f[0])
			}
		}
		deltas := kinds[6] + kinds[7]
		if deltas == 0 {
			t.Errorf("%v: no deltas in the pack (kinds %v): nothing tested", flags, kinds)
		}
		if len(flags) == 0 && kinds[7] == 0 {
			t.Errorf("without --delta-base-offset: no reference deltas (kinds %v)", kinds)
		}
	}
}

// TestAttackIndexPackRefusesMalformed: a pack a hostile or broken server
// sends — wrong checksum, truncated, a length lying about its contents, a
// delta copying out of its base or writing past its size, a delta cycle,
// a reference delta to an object it does not hold, garbage after the last
// entry, more objects claimed than bytes — is refused with an error, and
// random corruption (checksum recomputed, so parsing goes deep) never
// panics nor loops.
func TestAttackIndexPackRefusesMalformed(t *testing.T) {
	blob := func(s string) []byte { return entry(3, []byte(s)) }
	base := []byte("hello, base object")
	cases := map[string][]byte{
		"bad checksum":      func() []byte { p := makePack(blob("x")); p[len(p)-1] ^= 1; return p }(),
		"truncated":         makePack(blob("x"))[:20],
		"count lies":        withCount(makePack(blob("x")), 5),
		"size lies":         makePack(rawEntry(3, 10, []byte("short"))),
		"garbage after":     makePackRaw(1, append(blob("x"), 1, 2, 3)),
		"copy out of base":  makePack(blob(string(base)), ofsDelta(len(blob(string(base))), delta(len(base), 4, copyOp(10, 20)))),
		"write past size":   makePack(blob(string(base)), ofsDelta(len(blob(string(base))), delta(len(base), 2, insertOp("abc")))),
		"base size lies":    makePack(blob(string(base)), ofsDelta(len(blob(string(base))), delta(len(base)+1, 3, insertOp("abc")))),
		"opcode zero":       makePack(blob(string(base)), ofsDelta(len(blob(string(base))), append(delta(len(base), 1), 0))),
		"ref delta missing": makePack(refDelta(sha1.Sum([]byte("nothing")), delta(1, 1, insertOp("a")))),
		"ref delta cycle": func() []byte {
			// Two deltas, each against the other's id: never resolvable.
			a, b := sha1.Sum([]byte("a")), sha1.Sum([]byte("b"))
			return makePack(refDelta(a, delta(1, 1, insertOp("b"))), refDelta(b, delta(1, 1, insertOp("a"))))
		}(),
		"offset before pack": makePack(blob("x"), ofsDelta(1000, delta(1, 1, insertOp("a")))),
		"bad type":           makePack(rawEntry(5, 1, []byte("x"))),
	}
	for name, p := range cases {
		if _, err := indexPack(p); err == nil {
			t.Errorf("%s: indexPack accepted it", name)
		}
	}
	// A good pack with deltas, then corrupted at random.
	good := makePack(blob(string(base)), ofsDelta(len(blob(string(base))), delta(len(base), len(base)+3, copyOp(0, len(base)), insertOp("!!!"))),
		entry(1, []byte("tree "+strings.Repeat("0", 40)+"\n\nmsg\n")))
	objs, err := indexPack(good)
	if err != nil {
		t.Fatalf("the good pack: %v", err)
	}
	if string(objs[1].data) != string(base)+"!!!" || objs[1].typ != 3 {
		t.Fatalf("delta resolved to %q (type %d)", objs[1].data, objs[1].typ)
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 3000; i++ {
		p := append([]byte(nil), good...)
		for k := 0; k < 1+rng.Intn(3); k++ {
			p[12+rng.Intn(len(p)-32)] ^= byte(1 + rng.Intn(255))
		}
		sum := sha1.Sum(p[:len(p)-20])
		copy(p[len(p)-20:], sum[:])
		indexPack(p) // must return, error or not, without panicking
	}
}

// TestAttackFetchIncompletePackLeavesNoRef: a server that answers a fetch
// with a pack missing an object the new commit needs (here its tree) gets
// no ref, no pack and no commit into the mirror: the in-process fetch
// refuses it (checkConnected), and git fetch, tried next, fails against
// the same server.
func TestAttackFetchIncompletePackLeavesNoRef(t *testing.T) {
	server := t.TempDir()
	src := historyWithDeltas(t, server, "octo/lie")
	cache := New(t.TempDir(), "file://"+server, nil)
	defer cache.Close()
	m, err := cache.Fetch(context.Background(), "octo/lie", src.Head())
	if err != nil {
		t.Fatal(err)
	}
	parent := src.Head()
	// A commit whose tree the server will not send.
	commit := []byte(fmt.Sprintf("tree %s\nparent %s\nauthor a <a@b> 1 +0000\ncommitter a <a@b> 1 +0000\n\nlie\n", strings.Repeat("1", 40), parent))
	id := objectID("commit", commit)
	pack := makePack(entry(1, commit))
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
			http.NotFound(w, r) // git's own fetch finds no advertisement here
			return
		}
		w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
		w.Write([]byte(pktLine("packfile\n")))
		for len(pack) > 0 {
			n := min(len(pack), 1000)
			w.Write([]byte(fmt.Sprintf("%04x", n+5)))
			w.Write([]byte{1})
			w.Write(pack[:n])
			pack = pack[n:]
		}
		w.Write([]byte("0000"))
	}))
	defer liar.Close()
	cache.SetCloneURL("octo/lie", liar.URL+"/octo/lie.git")
	packsBefore := packsIn(t, m.Dir)
	if _, err := cache.Fetch(context.Background(), "octo/lie", id); err == nil {
		t.Fatal("a pack missing the commit's tree was accepted")
	}
	if refs := gitIn(t, m.Dir, "for-each-ref", "--format=%(objectname)"); strings.Contains(refs, id) {
		t.Errorf("a ref points at the incomplete commit: %s", refs)
	}
	if after := packsIn(t, m.Dir); len(after) != len(packsBefore) {
		t.Errorf("a pack was installed: %v", after)
	}
	if m.has(context.Background(), id) {
		t.Errorf("the incomplete commit is in the mirror")
	}
}

func objectID(typ string, data []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "%s %d\x00", typ, len(data))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// entry is a pack entry of an object of kind with data.
func entry(kind byte, data []byte) []byte { return rawEntry(kind, len(data), data) }

// rawEntry is a pack entry stating size, with data compressed.
func rawEntry(kind byte, size int, data []byte) []byte {
	return append(entryHeader(kind, size), deflate(data)...)
}

func entryHeader(kind byte, size int) []byte { return packEntryHeader(kind, uint64(size)) }

func deflate(data []byte) []byte {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// ofsDelta is an offset delta entry whose base starts back bytes before it.
func ofsDelta(back int, d []byte) []byte {
	var enc []byte
	enc = append(enc, byte(back&0x7f))
	for back >>= 7; back > 0; back >>= 7 {
		back--
		enc = append([]byte{byte(0x80 | back&0x7f)}, enc...)
	}
	return append(append(entryHeader(6, len(d)), enc...), deflate(d)...)
}

func refDelta(base [20]byte, d []byte) []byte {
	return append(append(entryHeader(7, len(d)), base[:]...), deflate(d)...)
}

// delta is a delta's header (base and result sizes) and its instructions.
func delta(src, dst int, ops ...[]byte) []byte {
	var d []byte
	for _, n := range []int{src, dst} {
		for n >= 0x80 {
			d = append(d, byte(n)|0x80)
			n >>= 7
		}
		d = append(d, byte(n))
	}
	for _, op := range ops {
		d = append(d, op...)
	}
	return d
}

func copyOp(off, size int) []byte {
	op := []byte{0x80 | 0x0f | 0x30}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(off))
	op = append(op, b[:]...)
	return append(op, byte(size), byte(size>>8))
}

func insertOp(s string) []byte { return append([]byte{byte(len(s))}, s...) }

func makePack(entries ...[]byte) []byte { return makePackRaw(len(entries), bytes.Join(entries, nil)) }

func makePackRaw(count int, body []byte) []byte {
	p := []byte("PACK\x00\x00\x00\x02")
	p = binary.BigEndian.AppendUint32(p, uint32(count))
	p = append(p, body...)
	sum := sha1.Sum(p)
	return append(p, sum[:]...)
}

func withCount(p []byte, n int) []byte {
	p = append([]byte(nil), p[:len(p)-20]...)
	binary.BigEndian.PutUint32(p[8:], uint32(n))
	sum := sha1.Sum(p)
	return append(p, sum[:]...)
}
