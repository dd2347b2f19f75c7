package microvm

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// BuildInitramfs writes workDir/initramfs-<hash>.img, unless it exists
// already, and returns its path: initrd (if not "") followed by a newc
// archive holding the agent as /init. The kernel unpacks concatenated
// archives in order, so the agent wins on /init. The Firecracker backend
// uses it too.
func BuildInitramfs(workDir, initrd, agentPath string) (string, error) {
	h := sha256.New()
	for _, p := range []string{initrd, agentPath} {
		if p == "" {
			continue
		}
		if err := hashFile(h, p); err != nil {
			return "", fmt.Errorf("microvm: initramfs: %w", err)
		}
	}
	path := filepath.Join(workDir, "initramfs-"+hex.EncodeToString(h.Sum(nil))[:16]+".img")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp, err := os.CreateTemp(workDir, "initramfs-*.tmp")
	if err != nil {
		return "", fmt.Errorf("microvm: initramfs: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := writeInitramfs(tmp, initrd, agentPath); err != nil {
		tmp.Close()
		return "", fmt.Errorf("microvm: initramfs: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("microvm: initramfs: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("microvm: initramfs: %w", err)
	}
	return path, nil
}

func hashFile(w io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

func writeInitramfs(out io.Writer, initrd, agentPath string) error {
	w := bufio.NewWriter(out)
	if initrd != "" {
		n, err := copyFile(w, initrd)
		if err != nil {
			return err
		}
		if pad := (4 - n%4) % 4; pad > 0 { // archives start 4-aligned
			w.Write(make([]byte, pad))
		}
	}
	agent, err := os.ReadFile(agentPath)
	if err != nil {
		return err
	}
	c := &cpioWriter{w: w}
	for _, d := range []string{"dev", "proc", "sys", "run", "etc"} {
		c.entry(d, 0o040755, 0, nil)
	}
	c.entry("dev/console", 0o020600, 5<<8|1, nil)
	c.entry("init", 0o100755, 0, agent)
	c.entry("TRAILER!!!", 0, 0, nil)
	if c.err != nil {
		return c.err
	}
	return w.Flush()
}

func copyFile(w io.Writer, p string) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.Copy(w, f)
}

// cpioWriter writes the "newc" format the kernel's initramfs unpacker reads.
type cpioWriter struct {
	w   io.Writer
	ino int
	n   int64
	err error
}

// entry writes one member; rdev is major<<8|minor for device nodes.
func (c *cpioWriter) entry(name string, mode uint32, rdev int, data []byte) {
	if c.err != nil {
		return
	}
	c.ino++
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev>>8, rdev&0xff, len(name)+1, 0)
	c.write([]byte(hdr))
	c.write(append([]byte(name), 0))
	c.pad()
	c.write(data)
	c.pad()
}

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
}

func (c *cpioWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}
