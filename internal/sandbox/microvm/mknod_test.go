package microvm

import "golang.org/x/sys/unix"

func unixMknod(path string, mode, major, minor uint32) error {
	return unix.Mknod(path, mode, int(unix.Mkdev(major, minor)))
}
