package agent

import "encoding/binary"

// goAwayWatch follows the HTTP/2 frames the server writes on a serial
// session and reports a GOAWAY with an error code: the session is broken
// (typically by a new host's HELLO), and the server would otherwise wait a
// further second for the vanished peer before giving up.
type goAwayWatch struct {
	hdr       [9]byte
	hdrN      int    // bytes of hdr filled
	remaining uint32 // payload bytes of the current frame still to come
	goAway    bool   // the current frame is a GOAWAY
	payload   []byte // first 8 payload bytes of a GOAWAY: last stream id, error code
}

const frameGoAway = 0x7

// write feeds bytes written to the peer and reports whether a GOAWAY with a
// non-zero error code has just been completed.
func (g *goAwayWatch) write(p []byte) bool {
	broken := false
	for len(p) > 0 {
		if g.remaining == 0 && g.hdrN < len(g.hdr) {
			n := copy(g.hdr[g.hdrN:], p)
			g.hdrN += n
			p = p[n:]
			if g.hdrN < len(g.hdr) {
				break
			}
			g.hdrN = 0
			g.remaining = uint32(g.hdr[0])<<16 | uint32(g.hdr[1])<<8 | uint32(g.hdr[2])
			g.goAway = g.hdr[3] == frameGoAway
			g.payload = g.payload[:0]
			if g.remaining == 0 {
				continue
			}
		}
		n := min(uint32(len(p)), g.remaining)
		if g.goAway && len(g.payload) < 8 {
			g.payload = append(g.payload, p[:min(int(n), 8-len(g.payload))]...)
		}
		g.remaining -= n
		p = p[n:]
		if g.remaining == 0 && g.goAway && len(g.payload) == 8 && binary.BigEndian.Uint32(g.payload[4:]) != 0 {
			broken = true
		}
	}
	return broken
}
