package agent

import (
	"encoding/binary"
	"io/fs"
	"syscall"
)

// putStat writes fi's stat data into an index entry's stat fields, keeping its mode
// (git compares the mode it recorded with the file's type and executable bit).
func putStat(b []byte, fi fs.FileInfo) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	be := binary.BigEndian
	be.PutUint32(b[0:], uint32(st.Ctim.Sec))
	be.PutUint32(b[4:], uint32(st.Ctim.Nsec))
	be.PutUint32(b[8:], uint32(st.Mtim.Sec))
	be.PutUint32(b[12:], uint32(st.Mtim.Nsec))
	be.PutUint32(b[16:], uint32(st.Dev))
	be.PutUint32(b[20:], uint32(st.Ino))
	be.PutUint32(b[28:], st.Uid)
	be.PutUint32(b[32:], st.Gid)
	be.PutUint32(b[36:], uint32(st.Size))
}
