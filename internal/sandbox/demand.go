package sandbox

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"strconv"
	"time"
)

// demandWindow is how far back a pool counts arrivals to estimate their
// rate; after it passes without arrivals the pool is back to one.
const demandWindow = time.Minute

// demand estimates how many warm sandboxes a pool needs: the arrivals of
// the last window give a rate, the measured start time says how long a
// replacement takes, and the pool keeps one for the next arrival plus those
// expected to arrive while replacements start.
type demand struct {
	window   time.Duration
	arrivals []time.Time   // within window, oldest first
	start    time.Duration // smoothed start time of a sandbox; 0 until one was measured
}

// arrive records an arrival at now.
func (d *demand) arrive(now time.Time) {
	d.expire(now)
	d.arrivals = append(d.arrivals, now)
}

func (d *demand) expire(now time.Time) {
	i := 0
	for i < len(d.arrivals) && now.Sub(d.arrivals[i]) > d.window {
		i++
	}
	d.arrivals = d.arrivals[i:]
}

// maxStartSample caps one start's weight in the estimate: a first start
// that built a template (tens of seconds) says little about the next ones.
const maxStartSample = 10 * time.Second

// started records how long one start took.
func (d *demand) started(took time.Duration) {
	took = min(took, maxStartSample)
	if d.start == 0 {
		d.start = took
		return
	}
	d.start = (3*d.start + took) / 4
}

// target is the number of warm sandboxes wanted at now (see warmTarget).
func (d *demand) target(now time.Time, limit, fit int) int {
	d.expire(now)
	var span time.Duration
	if len(d.arrivals) > 0 {
		span = now.Sub(d.arrivals[0])
	}
	return warmTarget(len(d.arrivals), span, d.start, limit, fit)
}

// minRateSpan is the shortest time over which arrivals make a rate: a burst
// of a few counts, two arrivals a moment apart do not make a flood.
const minRateSpan = 10 * time.Second

// warmTarget is demand.target's arithmetic. The arrivals of the demand
// window, span since the oldest of them (at least minRateSpan), give a
// rate; with a sandbox's start time plus the refill delay (how long a
// replacement takes to be ready) it keeps one sandbox for the next arrival
// plus the arrivals expected meanwhile, rounded: 1 + round(rate × (start +
// refillDelay)). That is at most limit (the configured maximum) and at most
// fit when fit ≥ 0 (what memory holds), never below 0.
func warmTarget(arrivals int, span, start time.Duration, limit, fit int) int {
	n := 1
	if arrivals > 0 && start > 0 {
		rate := float64(arrivals) / max(span, minRateSpan).Seconds()
		n += int(math.Round(rate * (start + refillDelay).Seconds()))
	}
	n = min(n, limit)
	if fit >= 0 {
		n = min(n, fit)
	}
	return max(n, 0)
}

// memAvailableMiB returns the host's MemAvailable (from /proc/meminfo) in
// MiB, or a very large number when it cannot be read (not limited).
func memAvailableMiB() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return math.MaxInt32
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) >= 2 && string(f[0]) == "MemAvailable:" {
			kb, err := strconv.ParseInt(string(f[1]), 10, 64)
			if err == nil {
				return kb / 1024
			}
		}
	}
	return math.MaxInt32
}
