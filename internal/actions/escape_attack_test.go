package actions

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/gitrepo/gittest"
)

// Attack tests for remote action extraction (issue 9, item 2): an action
// repository whose tree leads out of itself must be refused, and nothing
// outside the tree may be read or written.

// hostAction is a file on the host outside every action tree. Were hookci
// to read it as an action's action.yml and run it, the log would show its
// marker.
const hostMarker = "HOST-FILE-MARKER-5c1e"

const hostAction = "runs:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo " + hostMarker + "\n"

// climb returns, for an escape k levels deep, the files of a tree with
// d1/…/dk/up -> ../…/.. (which textually stays inside: it resolves to the
// tree's root) and the link target prefix "d1/…/dk/up/../…/.." (textually
// d1, really k levels above the root). Each link on its own looks local.
func climb(repo *gittest.Repo, k int) string {
	dirs := make([]string, k)
	ups := make([]string, k)
	for i := range dirs {
		dirs[i] = "d" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		ups[i] = ".."
	}
	upLink := strings.Join(dirs, "/") + "/up"
	repo.Symlink(upLink, strings.Join(ups, "/"))
	return upLink + "/" + strings.Join(ups, "/")
}

// hostFile writes content to a new file outside every tree and returns its path.
func hostFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "host-secret.yml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const usesEvil = `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: %USES%
      - if: always()
        run: echo "the run goes on"
`

// runEvil runs a job using uses and checks it is refused naming the action,
// with none of the host file's content in the log.
func runEvil(t *testing.T, e *env, uses string, want ...string) {
	t.Helper()
	res, rec := e.run(strings.ReplaceAll(usesEvil, "%USES%", uses), "build", runOpts{})
	wantConclusion(t, res, rec, "failure")
	wantLog(t, rec, append([]string{uses, "the run goes on"}, want...)...)
	if res.FailedStep != 1 {
		t.Errorf("failed step = %d, want 1", res.FailedStep)
	}
	if strings.Contains(rec.all(), hostMarker) {
		t.Fatalf("the host file was read and run as the action:\n%s", rec.all())
	}
}

// TestAttackActionLinkChainEscape: action.yml reached through a chain of
// relative links, each of which looks local, pointing at a host file.
func TestAttackActionLinkChainEscape(t *testing.T) {
	e := newEnv(t, nil)
	host := hostFile(t, hostAction)
	repo := gittest.New(t, e.gitRoot, "evil/chain")
	out := climb(repo, 40) // 40 levels up is / from anywhere here
	repo.Symlink("esc", out)
	repo.Symlink("action.yml", "esc"+host)
	repo.Commit("chain", map[string]string{"README": "x"})
	repo.Push("HEAD:refs/tags/v1")
	runEvil(t, e, "evil/chain@v1", "fetching action evil/chain@v1", "leads outside the action")

	// The same chain under a sub-directory action (owner/repo/path@ref).
	repo2 := gittest.New(t, e.gitRoot, "evil/subdir")
	repo2.Symlink("sub", climb(repo2, 40)+filepath.Dir(host))
	repo2.Commit("subdir", map[string]string{"README": "x"})
	repo2.Push("HEAD:refs/tags/v1")
	runEvil(t, e, "evil/subdir/sub@v1", "leads outside the action")
}

// TestAttackActionYMLLinksToHostFile: action.yml itself a link to a host
// file, absolute or relative.
func TestAttackActionYMLLinksToHostFile(t *testing.T) {
	e := newEnv(t, nil)
	host := hostFile(t, hostAction)
	for _, tt := range []struct{ name, target, want string }{
		{"abs", host, "points outside the action"},
		{"rel", strings.Repeat("../", 40) + strings.TrimPrefix(host, "/"), "leads outside the action"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			repo := gittest.New(t, e.gitRoot, "evil/"+tt.name)
			repo.Symlink("action.yml", tt.target)
			repo.Commit("link", map[string]string{"README": "x"})
			repo.Push("HEAD:refs/tags/v1")
			runEvil(t, e, "evil/"+tt.name+"@v1", tt.want)
		})
	}
}

// TestAttackActionWritesThroughLink: a crafted tree holds x as a link
// leading out of the tree and x/pwned, and y as a file and as a directory.
// Extraction must refuse it and write nothing outside.
func TestAttackActionWritesThroughLink(t *testing.T) {
	e := newEnv(t, nil)
	target := t.TempDir() // the host directory the link leads to
	repo := gittest.New(t, e.gitRoot, "evil/write")
	// A normal commit provides the climbing link; its tree is then re-made
	// with the crafted entries added.
	out := climb(repo, 40)
	base := repo.Commit("base", map[string]string{"action.yml": "runs:\n  using: composite\n  steps: []\n"})
	hash := func(content string) string {
		return strings.TrimSpace(runStdin(t, repo.Bare, content, "hash-object", "-w", "--stdin"))
	}
	mktree := func(lines ...string) string {
		return strings.TrimSpace(runStdin(t, repo.Bare, strings.Join(lines, "\n")+"\n", "mktree"))
	}
	repo.Push("main")
	baseTree := repo.GitBare("ls-tree", base)
	pwned := hash("PWNED\n")
	inner := mktree("100644 blob " + pwned + "\tpwned")
	cases := []struct {
		name  string
		extra []string
		want  string
	}{
		{"link-then-dir", []string{"120000 blob " + hash(out+target) + "\tx", "040000 tree " + inner + "\tx"}, "twice"},
		{"file-and-dir", []string{"100644 blob " + pwned + "\ty", "040000 tree " + inner + "\ty"}, "twice"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			tree := mktree(append(strings.Split(baseTree, "\n"), tt.extra...)...)
			c := strings.TrimSpace(runStdin(t, repo.Bare, "crafted", "-c", "user.name=a", "-c", "user.email=a@b", "commit-tree", tree))
			repo.GitBare("update-ref", "refs/tags/"+tt.name, c)
			runEvil(t, e, "evil/write@"+tt.name, tt.want)
			if ents, _ := os.ReadDir(target); len(ents) != 0 {
				t.Fatalf("extraction wrote %s into the host directory %s", ents[0].Name(), target)
			}
		})
	}
}

// runStdin runs git in dir with stdin and returns its output.
func runStdin(t *testing.T, dir, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// TestAttackCraftedActionArchive feeds the extractor archives git archive
// never writes but a hostile stream could: each must be refused, and
// nothing may appear outside the extraction directory.
func TestAttackCraftedActionArchive(t *testing.T) {
	outside := t.TempDir()
	type ent struct {
		name, link string
		typ        byte
		body       string
	}
	up := "a/b/up/../../.." // a/b/up -> ../.. is the root; this is one level above it
	cases := []struct {
		name string
		ents []ent
		want string
	}{
		{"absolute", []ent{{name: outside + "/pwned", typ: tar.TypeReg, body: "x"}}, "invalid entry"},
		{"dotdot", []ent{{name: "../pwned", typ: tar.TypeReg, body: "x"}}, "invalid entry"},
		{"unclean", []ent{{name: "a/../../pwned", typ: tar.TypeReg, body: "x"}}, "invalid entry"},
		{"hardlink", []ent{{name: "h", link: outside + "/victim", typ: tar.TypeLink}}, "only files, directories and symlinks"},
		{"device", []ent{{name: "mem", typ: tar.TypeChar}}, "only files, directories and symlinks"},
		{"fifo", []ent{{name: "p", typ: tar.TypeFifo}}, "only files, directories and symlinks"},
		{"duplicate file", []ent{{name: "f", typ: tar.TypeReg, body: "1"}, {name: "f", typ: tar.TypeReg, body: "2"}}, "twice"},
		{"file then dir", []ent{{name: "f", typ: tar.TypeReg, body: "1"}, {name: "f/", typ: tar.TypeDir}}, "twice"},
		{"file then child", []ent{{name: "f", typ: tar.TypeReg, body: "1"}, {name: "f/pwned", typ: tar.TypeReg, body: "x"}}, "not a directory"},
		{"abs link", []ent{{name: "l", link: outside, typ: tar.TypeSymlink}}, "points outside"},
		{"write through link", []ent{
			{name: "a/b/up", link: "../..", typ: tar.TypeSymlink},
			{name: "x", link: up + outside, typ: tar.TypeSymlink},
			{name: "x/pwned", typ: tar.TypeReg, body: "x"}}, "not a directory"},
		{"escaping chain", []ent{
			{name: "a/b/up", link: "../..", typ: tar.TypeSymlink},
			{name: "x", link: up, typ: tar.TypeSymlink}}, "leads outside"},
		{"link loop", []ent{
			{name: "l1", link: "l2", typ: tar.TypeSymlink},
			{name: "l2", link: "l1", typ: tar.TypeSymlink}}, "too many levels"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, e := range tt.ents {
				h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
				if err := tw.WriteHeader(h); err != nil {
					t.Fatal(err)
				}
				tw.Write([]byte(e.body))
			}
			tw.Close()
			dir := filepath.Join(t.TempDir(), "tree")
			os.Mkdir(dir, 0o755)
			err := extractTree(&buf, dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Fatalf("extraction wrote %s outside the tree", ents[0].Name())
			}
			if ents, _ := os.ReadDir(filepath.Dir(dir)); len(ents) != 1 {
				t.Fatalf("extraction wrote beside the tree: %d entries", len(ents))
			}
		})
	}

	// A legitimate tree with local links extracts and reads.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "pax_global_header", Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "abc"}})
	tw.WriteHeader(&tar.Header{Name: "lib/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "lib/real.yml", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2})
	tw.Write([]byte("ok"))
	tw.WriteHeader(&tar.Header{Name: "action.yml", Typeflag: tar.TypeSymlink, Linkname: "lib/../lib/real.yml"})
	tw.WriteHeader(&tar.Header{Name: "dangling", Typeflag: tar.TypeSymlink, Linkname: "nowhere/../x"})
	tw.Close()
	dir := t.TempDir()
	if err := extractTree(&buf, dir); err != nil {
		t.Fatalf("a tree with local links: %v", err)
	}
	if b, err := readTreeFile(dir, "action.yml"); err != nil || string(b) != "ok" {
		t.Errorf("action.yml through a local link = %q, %v; want ok", b, err)
	}
}
