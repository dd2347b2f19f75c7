// Package ocitest runs a real OCI registry (Debian's docker-registry, the
// CNCF distribution registry) on loopback for tests, and builds and pushes
// test images made from Debian packages, tagged like the official ones.
package ocitest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"golang.org/x/crypto/bcrypt"

	"github.com/hookci/hookci/internal/config"
)

// RegistryBinary is Debian's docker-registry package's binary.
const RegistryBinary = "/usr/bin/docker-registry"

// Reg is a running registry on loopback.
type Reg struct {
	// Host is "127.0.0.1:<port>".
	Host string
	// URL is "http://127.0.0.1:<port>".
	URL string
	// Dir is its storage directory.
	Dir string
	// User and Password are what RegistryAuth requires (empty: none).
	User, Password string
}

// Registry starts a docker-registry on a free loopback port with a fresh
// storage directory, stopped when t ends. Without the binary the test is
// skipped, except under CI=true where it fails.
func Registry(t testing.TB) *Reg {
	t.Helper()
	return start(t, "", "")
}

// RegistryAuth is Registry requiring basic auth with user and password
// (htpasswd, bcrypt) for every request, pushes included.
func RegistryAuth(t testing.TB, user, password string) *Reg {
	t.Helper()
	r := start(t, user, password)
	r.User, r.Password = user, password
	return r
}

func start(t testing.TB, user, password string) *Reg {
	t.Helper()
	if _, err := os.Stat(RegistryBinary); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (scripts/deps.sh test installs docker-registry): %v", RegistryBinary, err)
		}
		t.Skipf("%s is missing (apt-get install docker-registry)", RegistryBinary)
	}
	dir := t.TempDir()
	port := freePort(t)
	host := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), host)
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: hookci-test\n    path: %s\n", htpasswd)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(RegistryBinary, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start docker-registry: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	r := &Reg{Host: host, URL: "http://" + host, Dir: dir}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(r.URL + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || (user != "" && resp.StatusCode == http.StatusUnauthorized) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not answer on %s: %v\n%s", host, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Mirror is the [registries] configuration that serves docker.io's names
// ("postgres:16") from this registry.
func (r *Reg) Mirror() map[string]config.Registry {
	return map[string]config.Registry{"docker.io": {Mirrors: []string{r.URL}}}
}

// Push uploads img (an image or an index) as repo:tag ("library/postgres:16").
func (r *Reg) Push(ctx context.Context, repoTag string, img any) error {
	ref, err := name.ParseReference(r.Host+"/"+repoTag, name.Insecure)
	if err != nil {
		return err
	}
	var auth authn.Authenticator = authn.Anonymous
	if r.User != "" {
		auth = &authn.Basic{Username: r.User, Password: r.Password}
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth)}
	switch v := img.(type) {
	case v1.Image:
		return remote.Write(ref, v, opts...)
	case v1.ImageIndex:
		return remote.WriteIndex(ref, v, opts...)
	}
	return fmt.Errorf("push %s: want a v1.Image or v1.ImageIndex, got %T", repoTag, img)
}
