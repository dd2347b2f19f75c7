package agent

import (
	"archive/tar"
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzExtractTar checks that no tar stream writes outside the target
// directory or panics.
func FuzzExtractTar(f *testing.F) {
	seeds := [][]entry{
		{{"a", tar.TypeReg, 0o644, "x", ""}},
		{{"l", tar.TypeSymlink, 0o777, "", "../out"}, {"l/x", tar.TypeReg, 0o644, "x", ""}},
		{{"../out/x", tar.TypeReg, 0o644, "x", ""}},
		{{"d/", tar.TypeDir, 0o755, "", ""}, {"h", tar.TypeLink, 0, "", "../out/x"}},
	}
	for _, s := range seeds {
		var t testing.T
		f.Add(makeTar(&t, s).Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		dir, out := filepath.Join(base, "in"), filepath.Join(base, "out")
		for _, d := range []string{dir, out} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		extractTar(root, bytes.NewReader(data))
		ents, err := os.ReadDir(out)
		if err != nil || len(ents) != 0 {
			t.Fatalf("outside directory after extraction: %v entries, err %v", len(ents), err)
		}
		if ents, _ := os.ReadDir(base); len(ents) != 2 {
			t.Fatalf("base directory after extraction: got %d entries, want 2", len(ents))
		}
	})
}

// FuzzHandshakeLines checks the serial line scanner on arbitrary debris.
func FuzzHandshakeLines(f *testing.F) {
	f.Add([]byte("\x00\xff junk\nHOOKCI-HELLO 0123456789abcdef0123456789abcdef\n"))
	f.Add([]byte("HOOKCI-START zz\n\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 16)
		for {
			line, err := readLine(br)
			if err != nil {
				return
			}
			if nonce, ok := handshakeNonce(line, lineHello); ok && len(nonce) != 32 {
				t.Fatalf("nonce %q accepted", nonce)
			}
		}
	})
}
