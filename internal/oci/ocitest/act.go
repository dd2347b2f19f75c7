package ocitest

import (
	"context"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// nodeRecipe is the layer of the node stand-ins: Debian's nodejs (18 in
// bookworm) and python3 (the official node:*-buster images ship python3).
var nodeRecipe = recipe{name: "node-v1", include: []string{"nodejs", "python3"}}

// NodeEntrypoint is the node stand-in's entrypoint: like the official
// node images', it runs node with the arguments when the first is an
// option or not a command (so `args: -v` prints node's version).
const NodeEntrypoint = `#!/bin/sh
set -e
if [ "${1#-}" != "$1" ] || [ -z "$(command -v "$1")" ]; then
	set -- node "$@"
fi
exec "$@"
`

// ActStandIns are the images of act's runner suite that PushActImages
// stands in for, by the name its workflows use (Docker Hub's, resolved
// through a docker.io mirror), and what stands in. Only the images named
// here can run offline; the suite's others (mysql:8, nginx:latest,
// catthehacker/ubuntu:pwsh-latest) cannot.
var ActStandIns = map[string]string{
	"library/node:16-buster-slim": "Debian bookworm + nodejs 18 + python3",
	"library/node:16-buster":      "Debian bookworm + nodejs 18 + python3",
	"library/alpine:latest":       "Debian bookworm without bash (sh is dash, not busybox)",
	"library/ubuntu:latest":       "Debian bookworm",
	"library/postgres:12":         "the postgres:16 stand-in (PostgreSQL 15; PushImages pushes it)",
}

// PushActImages pushes PushImages' images and the stand-ins of
// ActStandIns to reg, building the node layer once per machine (a
// debootstrap against the host's Debian mirror). It skips, or fails under
// CI=true, as PushImages does.
func PushActImages(t testing.TB, reg *Reg) Images {
	t.Helper()
	imgs := PushImages(t, reg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	paths, err := buildLayers(ctx, testWriter{t}, baseRecipe, nodeRecipe)
	if err != nil {
		t.Fatalf("build the node stand-in's layers: %v", err)
	}
	layer := func(name string) v1.Layer {
		l, err := tarball.LayerFromFile(paths[name])
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	path := "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	base := layer(baseRecipe.name)
	node := Image(t, v1.Config{Env: []string{path}, Entrypoint: []string{"docker-entrypoint.sh"}, Cmd: []string{"node"}},
		base, layer(nodeRecipe.name), TarLayer(t, Entry{Name: "usr/local/bin/docker-entrypoint.sh", Body: NodeEntrypoint, Mode: 0o755}))
	// Alpine has no bash (a job in it defaults to sh): neither has its stand-in.
	alpine := Image(t, v1.Config{Env: []string{path}, Cmd: []string{"/bin/sh"}}, base,
		TarLayer(t, Entry{Name: "usr/bin/.wh.bash"}, Entry{Name: "usr/bin/.wh.rbash"}))
	ubuntu := Image(t, v1.Config{Env: []string{path}, Cmd: []string{"/bin/bash"}}, base)
	for tag, img := range map[string]v1.Image{
		"library/node:16-buster-slim": node, "library/node:16-buster": node,
		"library/alpine:latest": alpine, "library/ubuntu:latest": ubuntu,
	} {
		if err := reg.Push(ctx, tag, img); err != nil {
			t.Fatalf("push %s: %v", tag, err)
		}
	}
	return imgs
}
