package actions

import (
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/gitrepo/gittest"
)

// lfsServer builds git-lfs's reference server (lfs-test-server, pinned in
// testdata/lfsserver/go.mod) and starts it on loopback, accepting only
// user:password; it returns its base URL.
func lfsServer(t *testing.T, user, password string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lfs-test-server")
	build := exec.Command("go", "build", "-o", bin, "github.com/git-lfs/lfs-test-server")
	build.Dir = filepath.Join("testdata", "lfsserver")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building lfs-test-server from the Go module proxy: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "LFS_LISTEN=tcp://"+addr, "LFS_HOST="+addr, "LFS_SCHEME=http",
		"LFS_METADB="+filepath.Join(dir, "lfs.db"), "LFS_CONTENTPATH="+filepath.Join(dir, "content"),
		"LFS_ADMINUSER="+user, "LFS_ADMINPASS="+password, "LFS_PUBLIC=false")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if i == 500 {
			t.Fatalf("lfs-test-server did not listen on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "http://" + addr
}

// TestCheckoutLFS: actions/checkout with lfs: true replaces the pointer
// file by its content, fetched by the real git-lfs client from a real LFS
// server (git-lfs's lfs-test-server) that accepts only the job's token;
// without lfs: the working copy holds the pointer, as on GitHub.
func TestCheckoutLFS(t *testing.T) {
	if _, err := exec.LookPath("git-lfs"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git-lfs is not installed (scripts/deps.sh test installs the git-lfs package)")
		}
		t.Skip("git-lfs is not installed (Debian package git-lfs)")
	}
	const token = "ghs_testtoken123" // the job token of e.run
	url := lfsServer(t, "x-access-token", token)
	e := newEnv(t, nil)
	lib := gittest.New(t, e.gitRoot, "octo/lib")
	for k, v := range map[string]string{"filter.lfs.clean": "git-lfs clean -- %f", "filter.lfs.smudge": "git-lfs smudge -- %f",
		"filter.lfs.process": "git-lfs filter-process", "filter.lfs.required": "true"} {
		lib.Git("config", k, v)
	}
	lib.Commit("lfs setup", map[string]string{".gitattributes": "*.bin filter=lfs diff=lfs merge=lfs -text\n",
		".lfsconfig": "[lfs]\n\turl = " + url + "/octo/lib\n"})
	content := strings.Repeat("LFS-CONTENT-7c3a ", 4096)
	lib.Commit("big file", map[string]string{"big.bin": content})
	if blob := lib.Git("cat-file", "-p", "HEAD:big.bin"); !strings.HasPrefix(blob, "version https://git-lfs.github.com/spec/v1") {
		t.Fatalf("big.bin was not stored as an LFS pointer: %.200s", blob)
	}
	// The source repository pushes its LFS objects with the token (git-lfs's
	// pre-push hook, and explicitly).
	lib.Git("config", "http.extraheader", "Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token)))
	lib.Git("config", "lfs.locksverify", "false")
	lib.Push("main")
	lib.Git("lfs", "push", "--all", "origin")
	own := gittest.New(t, e.gitRoot, "octo/hello")
	head := own.Commit("a", map[string]string{"a.txt": "a"})
	own.Push("main")

	for _, tt := range []struct {
		name, with, want string
	}{
		{"lfs", "lfs: true", fmt.Sprintf("size=%d first=LFS-CONTENT-7c3a", len(content))},
		{"no lfs", "lfs: false", "first=version"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n" +
				"      - uses: actions/checkout@v4\n        with:\n          repository: octo/lib\n          path: lib\n          " + tt.with + "\n" +
				"      - run: echo \"size=$(wc -c < lib/big.bin) first=$(head -c 16 lib/big.bin)\"\n"
			res, rec := e.runSHA(src, "build", head)
			wantConclusion(t, res, rec, "success")
			wantLog(t, rec, tt.want)
		})
	}
}
