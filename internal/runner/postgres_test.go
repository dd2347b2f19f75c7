package runner

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/workflow"
)

// postgresEntrypoint initialises PGDATA as the official image's entrypoint
// does (POSTGRES_PASSWORD for the superuser, POSTGRES_DB created) and runs
// the server on all of the sandbox's loopback.
const postgresEntrypoint = `set -e
export PATH="$PGBIN:$PATH"
echo "$POSTGRES_PASSWORD" > /tmp/pw
initdb -D "$PGDATA" -U postgres --pwfile=/tmp/pw --auth-local=trust --auth-host=scram-sha-256 >/dev/null
rm /tmp/pw
pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -k /tmp" -w start >/dev/null
psql -h /tmp -U postgres -v ON_ERROR_STOP=1 -q -c "CREATE DATABASE \"$POSTGRES_DB\"" postgres
pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
echo "PostgreSQL init process complete; ready for start up."
exec postgres -D "$PGDATA" -c listen_addresses=127.0.0.1 -k /tmp
`

// hostPostgresRootFS returns an image-like root made of the host's /usr
// (bound read-only: it has PostgreSQL's server and psql) and a small /etc,
// with /var/lib/postgresql/data for the data volume; it skips (fails under
// CI=true) without PostgreSQL on the host.
func hostPostgresRootFS(t *testing.T) (root, pgbin string) {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the PostgreSQL service test needs Debian's postgresql (CI=true: not skipping)")
		}
		t.Skip("the PostgreSQL service test needs Debian's postgresql")
	}
	pgbin = filepath.Dir(bins[len(bins)-1])
	root = t.TempDir()
	// Searchable by the sandbox's uid, so that bubblewrap binds it (and the
	// /usr mounted inside) by path.
	for d := root; d != "/"; d = filepath.Dir(d) {
		if strings.HasPrefix(d, os.TempDir()+"/") {
			os.Chmod(d, 0o755)
		}
	}
	for _, d := range []string{"usr", "etc", "tmp", "var/lib/postgresql/data"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
		if err := os.Symlink("usr/"+l, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\n",
		"etc/group":  "root:x:0:\npostgres:x:999:\n",
		"etc/hosts":  "127.0.0.1 localhost\n",
	}
	for p, c := range files {
		if err := os.WriteFile(filepath.Join(root, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	usr := filepath.Join(root, "usr")
	if out, err := exec.Command("mount", "--bind", "-o", "ro", "/usr", usr).CombinedOutput(); err != nil {
		t.Fatalf("mount --bind /usr: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", usr).Run() })
	return root, pgbin
}

// TestPostgresService: a real PostgreSQL server as a service. Its health
// check (pg_isready) is waited for; the job then queries it with psql at
// localhost:5432 using the password and database the service's env set,
// and a job container reaches the same service as postgres:5432.
func TestPostgresService(t *testing.T) {
	guestRootFS(t) // bubblewrap, root and the guest image for the job
	pgRoot, pgbin := hostPostgresRootFS(t)
	images := func(ctx context.Context, ref string, _ *workflow.Credentials) (*Image, error) {
		img := &Image{Ref: ref, Digest: "sha256:test", RootFS: pgRoot, OS: "linux", Arch: "amd64", User: "postgres",
			Env:     []string{"PATH=/usr/local/bin:/usr/bin:/bin", "PGBIN=" + pgbin, "PGDATA=/var/lib/postgresql/data"},
			Volumes: []string{"/var/lib/postgresql/data"}}
		switch ref {
		case "postgres:16":
			img.Entrypoint = []string{"/bin/sh", "-c", postgresEntrypoint}
			img.Cmd = []string{"postgres"}
		default:
			return nil, errors.New("manifest unknown: " + ref)
		}
		return img, nil
	}
	const wf = `
on: push
jobs:
  runner:
    runs-on: ubuntu-latest
    services:
      postgres:
        image: postgres:16
        env:
          POSTGRES_PASSWORD: pgpass
          POSTGRES_DB: app
        ports: ["5432:5432"]
        options: >-
          --health-cmd "pg_isready -h 127.0.0.1 -p 5432"
          --health-interval 250ms --health-timeout 5s --health-retries 120
    steps:
      - run: PGPASSWORD=pgpass psql -h localhost -p ${{ job.services.postgres.ports['5432'] }} -U postgres -d app -tA -c "select 'answer=' || 6*7"
  boxed:
    runs-on: ubuntu-latest
    container: postgres:16
    services:
      postgres:
        image: postgres:16
        env:
          POSTGRES_PASSWORD: pgpass
          POSTGRES_DB: app
        options: --health-cmd "pg_isready -h 127.0.0.1 -p 5432" --health-interval 250ms --health-retries 120
    steps:
      - run: PGPASSWORD=pgpass psql -h postgres -p 5432 -U postgres -d app -tA -c "select 'boxed=' || current_database()"
`
	for _, tt := range []struct{ job, want string }{{"runner", "answer=42"}, {"boxed", "boxed=app"}} {
		t.Run(tt.job, func(t *testing.T) {
			res, rec := runWithImages(t, wf, tt.job, images)
			if res.Conclusion != "success" || !strings.Contains(rec.all(), tt.want) {
				t.Errorf("got %s, want success with %q:\n%s", res.Conclusion, tt.want, rec.all())
			}
			for _, want := range []string{"service postgres is healthy", "ready for start up"} {
				if !strings.Contains(rec.all(), want) {
					t.Errorf("log lacks %q:\n%s", want, rec.all())
				}
			}
		})
	}
}
