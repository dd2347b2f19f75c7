package agent

import (
	"bytes"
	"testing"

	"golang.org/x/net/http2"
)

func TestGoAwayWatch(t *testing.T) {
	frames := func(write func(*http2.Framer)) []byte {
		var buf bytes.Buffer
		write(http2.NewFramer(&buf, nil))
		return buf.Bytes()
	}
	tests := []struct {
		name string
		data []byte
		want bool
	}{
		{"settings and data", frames(func(f *http2.Framer) {
			f.WriteSettings()
			f.WriteData(1, false, bytes.Repeat([]byte{7}, 100))
		}), false},
		{"graceful goaway", frames(func(f *http2.Framer) { f.WriteGoAway(5, http2.ErrCodeNo, nil) }), false},
		{"goaway with error", frames(func(f *http2.Framer) {
			f.WriteSettings()
			f.WriteGoAway(0, http2.ErrCodeFrameSize, []byte("debug data"))
		}), true},
		{"goaway bytes inside data", frames(func(f *http2.Framer) {
			f.WriteData(1, false, frames(func(f *http2.Framer) { f.WriteGoAway(0, http2.ErrCodeProtocol, nil) }))
		}), false},
	}
	for _, tt := range tests {
		// Feed in every chunk size: frames split across writes.
		for chunk := 1; chunk <= len(tt.data); chunk++ {
			var g goAwayWatch
			got := false
			for p := tt.data; len(p) > 0; p = p[min(chunk, len(p)):] {
				got = g.write(p[:min(chunk, len(p))]) || got
			}
			if got != tt.want {
				t.Errorf("%s, chunks of %d: got %t, want %t", tt.name, chunk, got, tt.want)
				break
			}
		}
	}
}
