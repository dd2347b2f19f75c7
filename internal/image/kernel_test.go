package image

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseKernelConfig(t *testing.T) {
	text := `# comment
CONFIG_A=y
CONFIG_B="string"
# CONFIG_C is not set
  CONFIG_D=64
NOT_CONFIG=y
# random comment is not set
`
	got := parseKernelConfig(text)
	want := map[string]string{"CONFIG_A": "y", "CONFIG_B": `"string"`, "CONFIG_C": "n", "CONFIG_D": "64"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseKernelConfig mismatch (-want +got):\n%s", diff)
	}
}

func TestModuleLoadOrder(t *testing.T) {
	deps := map[string][]string{
		"kernel/drivers/block/virtio_blk.ko":          {"kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko"},
		"kernel/drivers/virtio/virtio.ko":             {},
		"kernel/drivers/virtio/virtio_ring.ko":        {},
		"kernel/drivers/char/hw_random/virtio-rng.ko": {"kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko"},
		"kernel/fs/ext4/ext4.ko":                      {"kernel/lib/crc16.ko", "kernel/fs/jbd2/jbd2.ko"},
		"kernel/lib/crc16.ko":                         {},
		"kernel/fs/jbd2/jbd2.ko":                      {},
	}
	tests := []struct {
		want    []string
		order   []string
		wantErr string
	}{
		{want: []string{"virtio_blk"}, order: []string{"kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/block/virtio_blk.ko"}},
		{want: []string{"virtio_rng", "virtio-blk", "ext4"}, order: []string{
			"kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/char/hw_random/virtio-rng.ko",
			"kernel/drivers/block/virtio_blk.ko", "kernel/lib/crc16.ko", "kernel/fs/jbd2/jbd2.ko", "kernel/fs/ext4/ext4.ko",
		}},
		{want: []string{"ext4", "nosuch"}, wantErr: "module nosuch not in modules.dep"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.want, ","), func(t *testing.T) {
			got, err := moduleLoadOrder(deps, tt.want)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.order, got); diff != "" {
				t.Errorf("load order mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// cpioMember is one entry read back from a newc archive.
type cpioMember struct {
	Name string
	Mode uint32
	Data string
}

// readNewc parses a newc archive independently of cpioWriter.
func readNewc(t *testing.T, b []byte) []cpioMember {
	t.Helper()
	var out []cpioMember
	align := func(n int) int { return (n + 3) &^ 3 }
	off := 0
	for {
		if off+110 > len(b) || string(b[off:off+6]) != "070701" {
			t.Fatalf("bad header at %d", off)
		}
		field := func(i int) int {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("bad header field %d at %d: %v", i, off, err)
			}
			return int(v)
		}
		mode, size, nameSize := field(1), field(6), field(11)
		name := string(b[off+110 : off+110+nameSize-1])
		dataOff := align(off + 110 + nameSize)
		if name == "TRAILER!!!" {
			return out
		}
		out = append(out, cpioMember{Name: name, Mode: uint32(mode), Data: string(b[dataOff : dataOff+size])})
		off = align(dataOff + size)
	}
}

func TestCpioWriter(t *testing.T) {
	var buf bytes.Buffer
	c := &cpioWriter{w: &buf}
	seen := map[string]bool{}
	c.dir("bin")
	seen["bin"] = true
	c.symlink("bin/sh", "busybox")
	c.file("init", 0o755, []byte("#!/bin/sh\n"))
	c.mkdirs("lib/modules/6.1/kernel/x.ko", seen)
	c.file("lib/modules/6.1/kernel/x.ko", 0o644, []byte("12345"))
	if err := c.close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d is not 4-aligned", buf.Len())
	}
	got := readNewc(t, buf.Bytes())
	want := []cpioMember{
		{"bin", 0o040755, ""},
		{"bin/sh", 0o120777, "busybox"},
		{"init", 0o100755, "#!/bin/sh\n"},
		{"lib", 0o040755, ""},
		{"lib/modules", 0o040755, ""},
		{"lib/modules/6.1", 0o040755, ""},
		{"lib/modules/6.1/kernel", 0o040755, ""},
		{"lib/modules/6.1/kernel/x.ko", 0o100644, "12345"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archive mismatch (-want +got):\n%s", diff)
	}
}

func TestCpioWriterMissingHostFile(t *testing.T) {
	c := &cpioWriter{w: &bytes.Buffer{}}
	c.hostFile("x", "/nonexistent/hookci/file", 0o644)
	if err := c.close(); err == nil {
		t.Errorf("got no error for a missing host file")
	}
}
