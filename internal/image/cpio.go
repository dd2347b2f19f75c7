package image

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// cpioWriter writes a newc ("070701") cpio archive, the format the kernel
// unpacks as an initramfs.
type cpioWriter struct {
	w     io.Writer
	ino   int
	err   error
	count int64
}

func (c *cpioWriter) write(p []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(p)
	c.count += int64(n)
	c.err = err
}

func (c *cpioWriter) pad() {
	if r := c.count % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// entry writes one archive member. mode holds the file type bits
// (0o100000 regular, 0o040000 directory, 0o120000 symlink) and permissions.
func (c *cpioWriter) entry(name string, mode uint32, data []byte) {
	c.ino++
	nlink := 1
	if mode&0o170000 == 0o040000 {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	c.write([]byte(hdr))
	c.write([]byte(name + "\x00"))
	c.pad()
	c.write(data)
	c.pad()
}

func (c *cpioWriter) dir(name string) { c.entry(name, 0o040755, nil) }

func (c *cpioWriter) symlink(name, target string) { c.entry(name, 0o120777, []byte(target)) }

func (c *cpioWriter) file(name string, perm fs.FileMode, data []byte) {
	c.entry(name, 0o100000|uint32(perm.Perm()), data)
}

// hostFile copies a host file into the archive under name.
func (c *cpioWriter) hostFile(name, path string, perm fs.FileMode) {
	data, err := os.ReadFile(path)
	if err != nil {
		if c.err == nil {
			c.err = err
		}
		return
	}
	c.file(name, perm, data)
}

// mkdirs writes every parent directory of name not yet written.
func (c *cpioWriter) mkdirs(name string, seen map[string]bool) {
	parts := strings.Split(name, "/")
	for i := 1; i < len(parts); i++ {
		d := strings.Join(parts[:i], "/")
		if !seen[d] {
			seen[d] = true
			c.dir(d)
		}
	}
}

// close writes the trailer and returns the first error met.
func (c *cpioWriter) close() error {
	c.entry("TRAILER!!!", 0, nil)
	return c.err
}
