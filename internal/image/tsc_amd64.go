package image

import (
	"sync"
	"time"
)

func rdtsc() uint64

var hostTSC = sync.OnceValue(func() int64 {
	// Two 20 ms samples; keep the lower (a preemption only inflates one).
	best := int64(0)
	for range 2 {
		t0, c0 := time.Now(), rdtsc()
		time.Sleep(20 * time.Millisecond)
		t1, c1 := time.Now(), rdtsc()
		khz := int64(float64(c1-c0) / float64(t1.Sub(t0).Nanoseconds()) * 1e6)
		if best == 0 || khz < best {
			best = khz
		}
	}
	return best
})

// HostTSCKHz measures the host's time stamp counter frequency in kHz (once
// per process, about 40 ms). Under TCG a guest's TSC is the host's, and a
// guest kernel that must calibrate it against the emulated PIT on a busy host
// sometimes fails and hangs; TCGCmdline passes the measured value instead.
func HostTSCKHz() int64 { return hostTSC() }
