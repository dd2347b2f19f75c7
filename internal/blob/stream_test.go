package blob_test

import (
	"context"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/blob"
	"github.com/hookci/hookci/internal/blob/s3test"
)

// pattern yields n bytes without holding them.
type pattern struct{ n, off int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n-p.off {
		b = b[:p.n-p.off]
	}
	for i := range b {
		b[i] = byte((p.off + int64(i)) * 7)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// peakHeap runs f while sampling the heap in use and returns the most seen
// above what was in use before.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak uint64
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			mu.Lock()
			if m.HeapInuse > base && m.HeapInuse-base > peak {
				peak = m.HeapInuse - base
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	<-done
	return peak
}

// TestPutStreams: a 96 MiB object goes to each store while the heap grows
// by far less than the object (S3: one 5 MiB part at a time; dir: a copy
// buffer), and what is read back hashes to what Put reported.
func TestPutStreams(t *testing.T) {
	const size = 96 << 20
	srv := s3test.Start(t)
	s3, err := blob.OpenS3(context.Background(), blob.S3Config{Endpoint: srv.Endpoint, Bucket: "stream", Region: "us-east-1",
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]blob.Store{"dir": blob.NewDir(t.TempDir()), "s3": s3} {
		t.Run(name, func(t *testing.T) {
			var info blob.Info
			var err error
			peak := peakHeap(func() { info, err = s.Put(context.Background(), "big", &pattern{n: size}) })
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: heap grew by at most %d MiB for a %d MiB object", name, peak>>20, size>>20)
			if peak > size/3 {
				t.Errorf("heap grew by %d MiB storing a %d MiB object: the upload is buffered", peak>>20, size>>20)
			}
			o, err := s.Open(context.Background(), "big")
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			n, err := io.Copy(io.Discard, blob.Verify(o, info.SHA256))
			if err != nil || n != size {
				t.Errorf("read back %d bytes, %v; want %d verified", n, err, size)
			}
		})
	}
}

// BenchmarkPutGet100MB stores and reads back a 100 MB object in each store
// (go test -bench PutGet -benchtime 3x ./internal/blob).
func BenchmarkPutGet100MB(b *testing.B) {
	const size = 100_000_000
	srv := s3test.Start(b)
	stores := map[string]blob.Store{"dir": blob.NewDir(b.TempDir()), "s3": srv.Open(b, "bench")}
	for _, name := range []string{"dir", "s3"} {
		s := stores[name]
		b.Run(name+"/put", func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				if _, err := s.Put(context.Background(), "obj", &pattern{n: size}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/get", func(b *testing.B) {
			info, err := s.Put(context.Background(), "obj", &pattern{n: size})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			for b.Loop() {
				o, err := s.Open(context.Background(), "obj")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, blob.Verify(o, info.SHA256)); err != nil {
					b.Fatal(err)
				}
				o.Close()
			}
		})
	}
}
