package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/blob"
	"github.com/hookci/hookci/internal/blob/s3test"
)

// backends returns each implementation, fresh: the same cases run on both.
func backends(t *testing.T) map[string]func(t *testing.T) blob.Store {
	srv := s3test.Start(t)
	n := 0
	return map[string]func(t *testing.T) blob.Store{
		"dir": func(t *testing.T) blob.Store { return blob.NewDir(t.TempDir()) },
		"s3": func(t *testing.T) blob.Store {
			n++
			return srv.Open(t, fmt.Sprintf("case%d", n))
		},
	}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef"), (40<<20)/16+3) // over two 16 MiB parts
	cases := []struct {
		name string
		run  func(t *testing.T, s blob.Store)
	}{
		{"put get stat", func(t *testing.T, s blob.Store) {
			info, err := s.Put(ctx, "a/b/c.txt", strings.NewReader("hello"))
			if err != nil {
				t.Fatal(err)
			}
			if info.Size != 5 || info.SHA256 != sum([]byte("hello")) {
				t.Errorf("got %+v, want size 5 and the sha256 of hello", info)
			}
			o, err := s.Open(ctx, "a/b/c.txt")
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			b, _ := io.ReadAll(o)
			if string(b) != "hello" || o.Size() != 5 {
				t.Errorf("got %q (size %d), want hello (5)", b, o.Size())
			}
			st, err := s.Stat(ctx, "a/b/c.txt")
			if err != nil || st.Size != 5 || time.Since(st.Modified) > time.Hour {
				t.Errorf("stat: got %+v, %v", st, err)
			}
		}},
		{"missing is fs.ErrNotExist", func(t *testing.T, s blob.Store) {
			if _, err := s.Open(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("open: got %v, want fs.ErrNotExist", err)
			}
			if _, err := s.Stat(ctx, "x/nope"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("stat: got %v, want fs.ErrNotExist", err)
			}
			if err := s.Delete(ctx, "x/nope"); err != nil {
				t.Errorf("delete of a missing key: got %v, want nil", err)
			}
		}},
		{"replace", func(t *testing.T, s blob.Store) {
			s.Put(ctx, "k", strings.NewReader("one"))
			s.Put(ctx, "k", strings.NewReader("two!"))
			o, err := s.Open(ctx, "k")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(o)
			o.Close()
			if string(b) != "two!" {
				t.Errorf("got %q, want two!", b)
			}
		}},
		{"list by prefix, delete", func(t *testing.T, s blob.Store) {
			for _, k := range []string{"r/1/a.json", "r/1/a.zip", "r/12/b.json", "r/2/c.json", "q/1/d"} {
				if _, err := s.Put(ctx, k, strings.NewReader(k)); err != nil {
					t.Fatal(err)
				}
			}
			for prefix, want := range map[string]string{
				"r/1/": "r/1/a.json r/1/a.zip", "r/1": "r/1/a.json r/1/a.zip r/12/b.json",
				"r/": "r/1/a.json r/1/a.zip r/12/b.json r/2/c.json", "z/": "",
			} {
				l, err := s.List(ctx, prefix)
				if err != nil {
					t.Fatal(err)
				}
				var keys []string
				for _, i := range l {
					keys = append(keys, i.Key)
				}
				if got := strings.Join(keys, " "); got != want {
					t.Errorf("list %q: got %q, want %q", prefix, got, want)
				}
			}
			if err := s.Delete(ctx, "r/1/a.zip"); err != nil {
				t.Fatal(err)
			}
			if l, _ := s.List(ctx, "r/1/"); len(l) != 1 {
				t.Errorf("after delete: got %d keys, want 1", len(l))
			}
		}},
		{"large streamed, read at offsets", func(t *testing.T, s blob.Store) {
			info, err := s.Put(ctx, "big", bytes.NewReader(big))
			if err != nil {
				t.Fatal(err)
			}
			if info.Size != int64(len(big)) || info.SHA256 != sum(big) {
				t.Errorf("got size %d sha %s, want %d %s", info.Size, info.SHA256, len(big), sum(big))
			}
			o, err := s.Open(ctx, "big")
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			p := make([]byte, 16)
			if _, err := o.ReadAt(p, 17<<20); err != nil || !bytes.Equal(p, big[17<<20:17<<20+16]) {
				t.Errorf("ReadAt: got %q, %v", p, err)
			}
			if _, err := o.Seek(0, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, blob.Verify(o, info.SHA256)); err != nil {
				t.Errorf("verified read: %v", err)
			}
		}},
		{"checksum mismatch is an error", func(t *testing.T, s blob.Store) {
			s.Put(ctx, "v", strings.NewReader("content"))
			o, err := s.Open(ctx, "v")
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			if _, err := io.Copy(io.Discard, blob.Verify(o, sum([]byte("other")))); !errors.Is(err, blob.ErrChecksum) {
				t.Errorf("got %v, want ErrChecksum", err)
			}
		}},
		{"failed write keeps the old object", func(t *testing.T, s blob.Store) {
			s.Put(ctx, "keep", strings.NewReader("old"))
			_, err := blob.Write(ctx, s, "keep", func(w io.Writer) error {
				w.Write([]byte("partial new content"))
				return errors.New("the producer failed")
			})
			if err == nil || !strings.Contains(err.Error(), "the producer failed") {
				t.Errorf("got %v, want the producer's error", err)
			}
			o, err := s.Open(ctx, "keep")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(o)
			o.Close()
			if string(b) != "old" {
				t.Errorf("got %q, want old", b)
			}
		}},
		{"bad keys refused", func(t *testing.T, s blob.Store) {
			for _, k := range []string{"", "/abs", "a/../b", "../x", "a//b", "dir/"} {
				if _, err := s.Put(ctx, k, strings.NewReader("x")); err == nil {
					t.Errorf("Put(%q): got nil, want an error", k)
				}
			}
		}},
		{"sub", func(t *testing.T, s blob.Store) {
			sub := blob.Sub(s, "artifacts")
			if _, err := sub.Put(ctx, "1/x.zip", strings.NewReader("z")); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Stat(ctx, "artifacts/1/x.zip"); err != nil {
				t.Errorf("outer stat: %v", err)
			}
			l, _ := sub.List(ctx, "1/")
			if len(l) != 1 || l[0].Key != "1/x.zip" {
				t.Errorf("got %+v, want one key 1/x.zip", l)
			}
		}},
	}
	for bname, open := range backends(t) {
		for _, c := range cases {
			t.Run(bname+"/"+c.name, func(t *testing.T) { c.run(t, open(t)) })
		}
	}
}
