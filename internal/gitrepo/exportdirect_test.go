package gitrepo

import (
	"archive/tar"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/gitrepo/gittest"
)

// TestExportDirectMatchesGitCheckout checks the workspace tar written
// straight from the mirror's objects (exportDirect) against the tar of git's
// own checkout of the same commit (TreeCached, TarDir), both unpacked by
// tar: the same files with the same modes and contents (an executable, a
// symlink, an empty file, nested and oddly named directories, one blob at
// three paths, a submodule entry), and to git the same HEAD, index entries,
// objects, origin, history and clean status; git finds the repository
// complete, and once the index is refreshed (what the agent's restat does in
// the sandbox) `git diff-index --quiet HEAD` finds nothing changed. The
// direct tar is the one ExportCached makes (no tree checked out on the
// server).
func TestExportDirectMatchesGitCheckout(t *testing.T) {
	ctx := context.Background()
	server := t.TempDir()
	src := gittest.New(t, server, "octo/direct")
	files := map[string]string{
		".github/workflows/ci.yml": "on: push\n", "run.sh": "#!/bin/sh\necho hi\n", "empty": "",
		"a-b": "sorts before a/\n", "a.c": "and this\n", "a/z": "in a\n", "dir with space/ünï cödé.txt": "utf-8\n",
		".gitignore": "out/\n", ".gitmodules": "[submodule \"sub\"]\n\tpath = sub\n\turl = https://example.com/sub\n",
	}
	for _, d := range []string{"x", "y/z", "y/z/w"} {
		files[d+"/same.txt"] = "duplicate content\n"
	}
	src.Commit("one", files)
	if err := os.Chmod(filepath.Join(src.Work, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	gitIn(t, src.Work, "add", "run.sh")
	if err := os.Symlink("a/z", filepath.Join(src.Work, "link")); err != nil {
		t.Fatal(err)
	}
	gitIn(t, src.Work, "add", "link")
	gitIn(t, src.Work, "update-index", "--add", "--cacheinfo", "160000,1111111111111111111111111111111111111111,sub")
	gitIn(t, src.Work, "commit", "-q", "-m", "two")
	sha := gitIn(t, src.Work, "rev-parse", "HEAD")
	if got := gitIn(t, src.Work, "ls-tree", "HEAD", "sub", "link", "run.sh"); !strings.Contains(got, "160000 commit") ||
		!strings.Contains(got, "120000 blob") || !strings.Contains(got, "100755 blob") {
		t.Fatalf("the commit lacks a submodule, symlink or executable entry:\n%s", got)
	}
	src.Push("main")
	cache := New(t.TempDir(), "file://"+server, nil)
	m, err := cache.Fetch(ctx, "octo/direct", sha)
	if err != nil {
		t.Fatal(err)
	}
	url := cache.CloneURL("octo/direct")

	p, err := m.ExportCached(ctx, sha, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.Dir + ".trees"); err == nil {
		t.Fatalf("ExportCached checked the commit out on the server: want the tar written from the objects")
	}
	direct := untar(t, p)
	tree := filepath.Join(t.TempDir(), "checkout")
	if err := m.Checkout(ctx, sha, tree, url); err != nil { // git's own checkout
		t.Fatal(err)
	}
	viaGit := filepath.Join(t.TempDir(), "git.tar")
	f, err := os.Create(viaGit)
	if err != nil {
		t.Fatal(err)
	}
	if err := TarDir(f, tree); err != nil {
		t.Fatal(err)
	}
	f.Close()
	checkedOut := untar(t, viaGit)

	if fi, err := os.Stat(filepath.Join(direct, "sub")); err != nil || !fi.IsDir() {
		t.Errorf("the submodule's directory: %v, %v; want an empty directory", fi, err)
	}
	if got, want := treeListing(t, direct), treeListing(t, checkedOut); got != want {
		t.Errorf("work tree files:\ngot  %s\nwant %s", got, want)
	}
	// The kept tree (a microVM's workspace disk) is the tar unpacked, not a
	// second checkout.
	kept, err := m.TreeCached(ctx, sha, url)
	if err != nil {
		t.Fatal(err)
	}
	// (Its top directory is private to the server, as it always was.)
	if got, want := strings.SplitN(treeListing(t, kept), "; ", 2)[1], strings.SplitN(treeListing(t, checkedOut), "; ", 2)[1]; got != want {
		t.Errorf("TreeCached files:\ngot  %s\nwant %s", got, want)
	}
	for _, args := range [][]string{{"ls-files", "-s"}, {"rev-list", "--objects", "--all"}, {"status", "--porcelain"}} {
		if got, want := gitIn(t, kept, args...), gitIn(t, checkedOut, args...); got != want {
			t.Errorf("TreeCached: git %s: got %q, want %q", strings.Join(args, " "), got, want)
		}
	}
	if a, b := packOf(t, kept), packOf(t, direct); filepath.Base(a) != filepath.Base(b) {
		t.Errorf("TreeCached's pack %s is not the tar's %s", filepath.Base(a), filepath.Base(b))
	}
	for _, args := range [][]string{
		{"rev-parse", "HEAD"},
		{"ls-files", "-s"},
		{"status", "--porcelain", "--ignored"},
		{"config", "remote.origin.url"},
		{"config", "remote.origin.fetch"},
		{"log", "--format=%H %T %s"},
		{"rev-list", "--objects", "--all"},
		{"cat-file", "--batch-all-objects", "--batch-check"},
		{"rev-parse", "--is-shallow-repository"},
	} {
		if got, want := gitIn(t, direct, args...), gitIn(t, checkedOut, args...); got != want {
			t.Errorf("git %s: got %q, want %q (git's checkout)", strings.Join(args, " "), got, want)
		}
	}
	if err := exec.Command("git", "-C", direct, "symbolic-ref", "-q", "HEAD").Run(); err == nil {
		t.Errorf("HEAD is a branch; want it detached at the commit, as git's checkout leaves it")
	}
	gitIn(t, direct, "fsck", "--strict", "--no-dangling")
	gitIn(t, direct, "verify-pack", packOf(t, direct))
	if b, err := os.ReadFile(filepath.Join(direct, ".git", "shallow")); err != nil || strings.TrimSpace(string(b)) != sha {
		t.Errorf(".git/shallow = %q, %v; want %s", b, err, sha)
	}
	if got := gitIn(t, direct, "reflog", "--format=%H %gs"); got != sha+" checkout: moving from main to "+sha {
		t.Errorf("reflog: got %q", got)
	}
	gitIn(t, direct, "update-index", "--refresh")
	gitIn(t, direct, "diff-index", "--quiet", "HEAD")
	// The repository works for what jobs do next: a commit on top.
	os.WriteFile(filepath.Join(direct, "new.txt"), []byte("new\n"), 0o644)
	gitIn(t, direct, "add", "new.txt")
	gitIn(t, direct, "commit", "-q", "-m", "on top")
	gitIn(t, direct, "fsck", "--strict", "--no-dangling")
}

// TestExportDirectFallsBack: a tree whose checkout is not just its blobs —
// .gitattributes (here eol=crlf), a name git refuses or guards, a mode git
// normalises, a duplicate entry — is not written from the objects: git's
// own checkout makes it, applying (or refusing with) its own rules, so the
// tar is what it was before exportDirect existed.
func TestExportDirectFallsBack(t *testing.T) {
	ctx := context.Background()
	server := t.TempDir()
	src := gittest.New(t, server, "octo/attrs")
	sha := src.Commit("one", map[string]string{".gitattributes": "*.txt eol=crlf\n", "a.txt": "one\ntwo\n"})
	src.Push("main")
	cache := New(t.TempDir(), "file://"+server, nil)
	m, err := cache.Fetch(ctx, "octo/attrs", sha)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.ExportCached(ctx, sha, cache.CloneURL("octo/attrs"))
	if err != nil {
		t.Fatal(err)
	}
	dir := untar(t, p)
	if b, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(b) != "one\r\ntwo\r\n" {
		t.Errorf("a.txt with eol=crlf: got %q, want CRLF line ends (git's checkout)", b)
	}
	if _, err := os.Stat(m.Dir + ".trees"); err != nil {
		t.Errorf("no checkout on the server: the attributes were not left to git (%v)", err)
	}

	// Trees no plain checkout may write, made with hash-object (git's own
	// commands refuse to make most of them).
	blob := gitIn(t, src.Work, "rev-parse", "HEAD:a.txt")
	raw, _ := hex.DecodeString(blob)
	entry := func(mode, name string) string { return mode + " " + name + "\x00" + string(raw) }
	for _, c := range []struct{ name, tree string }{
		{"upper-case .GIT", entry("100644", ".GIT")},
		{"NTFS short name", entry("100644", "GIT~1")},
		{"trailing dot", entry("100644", ".git.")},
		{"odd mode", entry("100664", "file")},
		{"duplicate", entry("100644", "same") + entry("100644", "same")},
		{"backslash", entry("100644", `a\b`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			treeID := hashObject(t, src.Work, "tree", c.tree)
			commit := hashObject(t, src.Work, "commit", "tree "+treeID+"\nauthor T <t@example.com> 1 +0000\ncommitter T <t@example.com> 1 +0000\n\ncrafted\n")
			gitIn(t, src.Work, "update-ref", "refs/heads/crafted", commit)
			src.Push("+refs/heads/crafted:refs/heads/crafted")
			mm, err := cache.Fetch(ctx, "octo/attrs", commit)
			if err != nil {
				t.Fatal(err)
			}
			objs, _, _, err := mm.plainTree(ctx, commit)
			if err != errNotPlain {
				t.Errorf("plainTree: got %d objects, %v; want errNotPlain", len(objs), err)
			}
			var sink strings.Builder
			if err := mm.exportDirect(ctx, commit, cache.CloneURL("octo/attrs"), &sink, tempFile(t)); err != errNotPlain || sink.Len() != 0 {
				t.Errorf("exportDirect: wrote %d bytes, %v; want nothing and errNotPlain", sink.Len(), err)
			}
		})
	}
	// An origin git's config must quote is left to `git remote add`.
	var sink strings.Builder
	if err := m.exportDirect(ctx, sha, `https://example.com/o/a "quoted".git`, &sink, tempFile(t)); err != errNotPlain || sink.Len() != 0 {
		t.Errorf("quoted origin: wrote %d bytes, %v; want nothing and errNotPlain", sink.Len(), err)
	}
}

func TestPlainName(t *testing.T) {
	for name, want := range map[string]bool{
		"a": true, ".github": true, ".gitignore": true, ".gitmodules": true, "git": true, ".gitx": true, "ünï": true,
		"": false, ".": false, "..": false, ".git": false, ".GiT": false, ".git ": false, ".git. .": false, "git~1": false,
		"GIT~2": false, ".gitattributes": false, "a/b": false, `a\b`: false, "a:b": false, ".g\u200cit": false,
	} {
		if got := plainName(name); got != want {
			t.Errorf("plainName(%q) = %v, want %v", name, got, want)
		}
	}
}

// untar unpacks the tar at p with GNU tar into a new directory.
func untar(t *testing.T, p string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("tar", "-x", "-f", p, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("tar -x %s: %v\n%s", p, err, out)
	}
	return dir
}

// hashObject writes a raw object of type typ, unchecked, and returns its id.
func hashObject(t *testing.T, repo, typ, content string) string {
	t.Helper()
	cmd := exec.Command("git", "hash-object", "-t", typ, "-w", "--literally", "--stdin")
	cmd.Dir = repo
	cmd.Stdin = strings.NewReader(content)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git hash-object: %v\n%s", err, out)
	}
	id := strings.TrimSpace(string(out))
	if want := fmt.Sprintf("%x", sha1.Sum([]byte(fmt.Sprintf("%s %d\x00%s", typ, len(content), content)))); id != want {
		t.Fatalf("hash-object: %s, want %s", id, want)
	}
	return id
}

func tempFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "pack")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestFetchSendsOnlyNewObjects: a fetch negotiates from the refs the
// previous fetch left (refs/hookci/fetched/*), so the server sends the new
// commit's objects only, not its whole history again (which every push
// cost before: a mirror with no ref has nothing to negotiate from).
func TestFetchSendsOnlyNewObjects(t *testing.T) {
	ctx := context.Background()
	server := t.TempDir()
	src := gittest.New(t, server, "octo/history")
	for i := 0; i < 60; i++ {
		src.Commit(fmt.Sprint("c", i), map[string]string{fmt.Sprintf("f%d.txt", i%10): strings.Repeat(fmt.Sprint(i), 100)})
	}
	first := src.Head()
	src.Push("main")
	cache := New(t.TempDir(), "file://"+server, nil)
	m, err := cache.Fetch(ctx, "octo/history", first)
	if err != nil {
		t.Fatal(err)
	}
	before := objectsIn(t, m.Dir)
	if before < 150 {
		t.Fatalf("the first fetch brought %d objects, want the whole history (≥ 150)", before)
	}
	second := src.Commit("one more", map[string]string{"new.txt": "new\n"})
	src.Push("main")
	if _, err := cache.Fetch(ctx, "octo/history", second); err != nil {
		t.Fatal(err)
	}
	if added := objectsIn(t, m.Dir) - before; added > 5 {
		t.Errorf("the second fetch added %d objects for one new commit (commit, tree, blob): the history was sent again", added)
	}
	if refs := gitIn(t, m.Dir, "for-each-ref", "--format=%(objectname) %(refname)"); refs != second+" refs/hookci/fetched/0" {
		t.Errorf("mirror refs: %q", refs)
	}
}

// objectsIn counts a repository's objects, loose and packed (duplicates in
// several packs counted each time).
func objectsIn(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(gitIn(t, dir, "count-objects", "-v"), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		if k == "count" || k == "in-pack" {
			var x int
			fmt.Sscan(v, &x)
			n += x
		}
	}
	return n
}

// TestAttackUntarIntoStaysInside: unpacking a workspace tar on the server
// (TreeCached) cannot write outside the tree, whatever the tar holds: a
// parent-relative or absolute name, a symlink pointing out followed by a
// file under it, a hard link to a file outside. Each fails and leaves the
// outside untouched.
func TestAttackUntarIntoStaysInside(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		entries []*tar.Header
	}{
		{"parent", []*tar.Header{{Typeflag: tar.TypeReg, Name: "../" + filepath.Base(outside) + "/secret", Mode: 0o644}}},
		{"absolute", []*tar.Header{{Typeflag: tar.TypeReg, Name: secret, Mode: 0o644}}},
		{"through a symlink", []*tar.Header{{Typeflag: tar.TypeSymlink, Name: "l", Linkname: outside},
			{Typeflag: tar.TypeReg, Name: "l/secret", Mode: 0o644}}},
		{"onto a symlink", []*tar.Header{{Typeflag: tar.TypeSymlink, Name: "s", Linkname: secret},
			{Typeflag: tar.TypeReg, Name: "s", Mode: 0o644}}},
		{"hard link", []*tar.Header{{Typeflag: tar.TypeLink, Name: "h", Linkname: secret}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "x.tar")
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			tw := tar.NewWriter(f)
			for _, h := range c.entries {
				if h.Typeflag == tar.TypeReg {
					h.Size = 4
				}
				tw.WriteHeader(h)
				if h.Typeflag == tar.TypeReg {
					tw.Write([]byte("evil"))
				}
			}
			tw.Close()
			f.Close()
			if err := untarInto(t.TempDir(), p); err == nil {
				t.Errorf("untarInto: no error")
			}
			if b, _ := os.ReadFile(secret); string(b) != "keep" {
				t.Fatalf("the file outside was changed: %q", b)
			}
		})
	}
}
