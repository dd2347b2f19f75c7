package ocitest

import (
	"archive/tar"
	"context"
	"os"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Names of the images PushImages pushes (repository:tag in the registry; a
// docker.io mirror entry makes "postgres:16" resolve to the first).
const (
	Postgres = "library/postgres:16"
	Redis    = "library/redis:7"
	Debian   = "library/debian:bookworm"
	// Action is a Docker action's prebuilt image: its entrypoint greets
	// INPUT_WHO_TO_GREET, writes "time=…" and "greeting=…" to $GITHUB_OUTPUT
	// and prints its arguments.
	Action = "hookci-test/hello-action:v1"
)

// PostgresEntrypoint honours POSTGRES_PASSWORD, POSTGRES_USER, POSTGRES_DB
// and POSTGRES_HOST_AUTH_METHOD like the official image: initdb on first
// start into $PGDATA, then postgres listening on every address, port 5432.
const PostgresEntrypoint = `#!/bin/sh
set -e
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
if [ "${1#-}" != "$1" ]; then set -- postgres "$@"; fi
if [ "$1" = postgres ]; then
	if [ "$(id -u)" = 0 ]; then
		mkdir -p "$PGDATA" /var/run/postgresql
		chown -R postgres:postgres "$PGDATA" /var/run/postgresql
		chmod 700 "$PGDATA"
		exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
	fi
	if [ ! -s "$PGDATA/PG_VERSION" ]; then
		if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
			echo "Error: Database is uninitialized and superuser password is not specified." >&2
			echo "       You must specify POSTGRES_PASSWORD to a non-empty value for the" >&2
			echo "       superuser (or POSTGRES_HOST_AUTH_METHOD=trust)." >&2
			exit 1
		fi
		user="${POSTGRES_USER:-postgres}"
		pw="$(mktemp)"
		printf '%s' "${POSTGRES_PASSWORD}" >"$pw"
		initdb --username="$user" --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA" >/dev/null
		rm -f "$pw"
		method="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
		echo "host all all all $method" >>"$PGDATA/pg_hba.conf"
		db="${POSTGRES_DB:-$user}"
		if [ "$db" != postgres ]; then
			echo "CREATE DATABASE \"$db\";" | postgres --single -D "$PGDATA" postgres >/dev/null
		fi
		echo "PostgreSQL init process complete; ready for start up."
	fi
	shift
	exec postgres -c listen_addresses='*' "$@"
fi
exec "$@"
`

// ActionEntrypoint is the Docker action's entrypoint.
const ActionEntrypoint = `#!/bin/sh
set -e
echo "Hello ${INPUT_WHO_TO_GREET:-nobody}"
echo "args: $*"
echo "workspace: $(pwd)"
echo "greeting=Hello ${INPUT_WHO_TO_GREET:-nobody}" >>"$GITHUB_OUTPUT"
echo "time=$(date -u +%s)" >>"$GITHUB_OUTPUT"
`

// Images are the references PushImages pushed, as the registry serves them
// ("127.0.0.1:port/library/postgres:16").
type Images struct {
	Postgres, Redis, Debian, Action string
}

// PushImages builds (once per machine, cached in CacheDir) and pushes the
// test images to reg: PostgreSQL 15 from Debian tagged postgres:16 (the tag
// real workflows use), Redis, plain Debian bookworm and a Docker action.
// The first build runs debootstrap three times against the host's Debian
// mirror (minutes); later ones only push. Skips without debootstrap unless
// CI=true.
func PushImages(t testing.TB, reg *Reg) Images {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/debootstrap"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("debootstrap is missing (scripts/deps.sh test installs it): %v", err)
		}
		t.Skip("debootstrap is missing (apt-get install debootstrap)")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("building the test images needs root (debootstrap, file ownership)")
		}
		t.Skip("building the test images needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	paths, err := buildLayers(ctx, testWriter{t}, baseRecipe, postgresRecipe, redisRecipe)
	if err != nil {
		t.Fatalf("build test image layers: %v", err)
	}
	layer := func(name string) v1.Layer {
		l, err := tarball.LayerFromFile(paths[name])
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	base := layer(baseRecipe.name)
	path := "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	pg := Image(t, v1.Config{
		Env:          []string{path + ":/usr/lib/postgresql/15/bin", "PGDATA=/var/lib/postgresql/data", "PG_MAJOR=15"},
		Entrypoint:   []string{"docker-entrypoint.sh"},
		Cmd:          []string{"postgres"},
		ExposedPorts: map[string]struct{}{"5432/tcp": {}},
		StopSignal:   "SIGINT",
		Volumes:      map[string]struct{}{"/var/lib/postgresql/data": {}},
	}, base, layer(postgresRecipe.name), TarLayer(t,
		Entry{Name: "usr/local/bin/docker-entrypoint.sh", Body: PostgresEntrypoint, Mode: 0o755},
		Entry{Name: "var/lib/postgresql/data/", Type: tar.TypeDir, Mode: 0o700, UID: 0, GID: 0},
		// The official image ships its socket directory (mode 3777), so a
		// server started as a non-root user (--user postgres) can create
		// its socket and lock file there.
		Entry{Name: "run/postgresql/", Type: tar.TypeDir, Mode: 0o3777, UID: 0, GID: 0}))
	redis := Image(t, v1.Config{
		Env:          []string{path},
		Cmd:          []string{"redis-server", "--protected-mode", "no"},
		ExposedPorts: map[string]struct{}{"6379/tcp": {}},
		WorkingDir:   "/data",
	}, base, layer(redisRecipe.name), TarLayer(t, Entry{Name: "data/", Type: tar.TypeDir, Mode: 0o777}))
	debian := Image(t, v1.Config{Env: []string{path}, Cmd: []string{"bash"}}, base)
	action := Image(t, v1.Config{Env: []string{path}, Entrypoint: []string{"/entrypoint.sh"}}, base,
		TarLayer(t, Entry{Name: "entrypoint.sh", Body: ActionEntrypoint, Mode: 0o755}))
	for tag, img := range map[string]v1.Image{Postgres: pg, "library/postgres:12": pg, Redis: redis, "library/redis:latest": redis,
		Debian: debian, "library/debian:latest": debian, Action: action} {
		if err := reg.Push(ctx, tag, img); err != nil {
			t.Fatalf("push %s: %v", tag, err)
		}
	}
	return Images{Postgres: reg.Host + "/" + Postgres, Redis: reg.Host + "/" + Redis,
		Debian: reg.Host + "/" + Debian, Action: reg.Host + "/" + Action}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
