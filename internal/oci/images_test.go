package oci_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hookci/hookci/internal/oci/ocitest"
)

// TestPullTestImages pushes the Debian-built test images and pulls them by
// their official short names through a docker.io mirror: the files each
// image's entrypoint needs are there.
func TestPullTestImages(t *testing.T) {
	reg := ocitest.Registry(t)
	ocitest.PushImages(t, reg)
	s := open(t, reg.Mirror())
	ctx := context.Background()
	for ref, files := range map[string][]string{
		"postgres:16":                 {"usr/lib/postgresql/15/bin/postgres", "usr/lib/postgresql/15/bin/initdb", "usr/local/bin/docker-entrypoint.sh", "usr/bin/setpriv"},
		"redis":                       {"usr/bin/redis-server"},
		"debian:bookworm":             {"bin/sh", "etc/debian_version"},
		"hookci-test/hello-action:v1": {"entrypoint.sh", "bin/sh"},
	} {
		img, err := s.Pull(ctx, ref, nil)
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(img.RootFS, f)); err != nil {
				t.Errorf("%s: %v", ref, err)
			}
		}
	}
}
