// Package ocipull measures pulling the test postgres:16 image (built from
// Debian packages by ocitest, served by a loopback docker-registry through a
// docker.io mirror entry): a cold pull into an empty cache (download, verify,
// unpack), a warm pull (tag resolved again, nothing downloaded), the ext4
// image for the microVM, and the cache's size on disk.
//
//	go test -run '^$' -bench . -benchtime 3x ./bench/ocipull
package ocipull

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hookci/hookci/bench/hw"
	"github.com/hookci/hookci/internal/oci"
	"github.com/hookci/hookci/internal/oci/ocitest"
)

func BenchmarkPullPostgres(b *testing.B) {
	reg := ocitest.Registry(b)
	ocitest.PushImages(b, reg)
	ctx := context.Background()
	quiet := oci.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	fmt.Println(hw.Describe())
	var last *oci.Store
	outer := b // its temporary directories outlive the sub-benchmarks
	b.Run("cold", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			s, err := oci.Open(outer.TempDir(), reg.Mirror(), quiet)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := s.Pull(ctx, "postgres:16", nil); err != nil {
				b.Fatal(err)
			}
			last = s
		}
	})
	b.Run("warm", func(b *testing.B) {
		for range b.N {
			if _, err := last.Pull(ctx, "postgres:16", nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ext4", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			img, err := last.Pull(ctx, "postgres:16", nil)
			if err != nil {
				b.Fatal(err)
			}
			os.Remove(filepath.Join(filepath.Dir(img.RootFS), "disk.ext4"))
			b.StartTimer()
			if _, err := img.Ext4(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	blobs, rootfs, disk := usage(filepath.Join(last.Root(), "blobs")), int64(0), int64(0)
	imgs, _ := filepath.Glob(filepath.Join(last.Root(), "images", "*"))
	for _, d := range imgs {
		rootfs += usage(filepath.Join(d, "rootfs"))
		disk += usage(filepath.Join(d, "disk.ext4"))
	}
	fmt.Printf("postgres:16 cache on disk: layers %.1f MiB, rootfs %.1f MiB, ext4 %.1f MiB (allocated)\n",
		mib(blobs), mib(rootfs), mib(disk))
}

// usage is the bytes allocated on disk under p (sparse files count what
// they use).
func usage(p string) int64 {
	var n int64
	filepath.Walk(p, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		}
		return nil
	})
	return n
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
