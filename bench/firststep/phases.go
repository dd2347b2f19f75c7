package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hookci/hookci/bench/benchserver"
	"github.com/hookci/hookci/internal/trace"
)

// phase is one span of a delivery, as an offset from the webhook's POST.
type phase struct{ start, dur time.Duration }

// readPhases returns the spans that began between t0 and the first step's
// start, by name (a repeated name gets " #2", " #3").
func readPhases(path string, t0, first time.Time) (map[string]phase, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	spans, err := trace.Read(f)
	if err != nil {
		return nil, err
	}
	out := map[string]phase{}
	seen := map[string]int{}
	for _, s := range spans {
		if s.Start.Before(t0) || s.Start.After(first.Add(time.Millisecond)) {
			continue
		}
		seen[s.Name]++
		name := s.Name
		if k := seen[s.Name]; k > 1 {
			name = fmt.Sprintf("%s #%d", s.Name, k)
		}
		out[name] = phase{start: s.Start.Sub(t0), dur: s.Dur}
	}
	return out, nil
}

// printPhases prints each phase's median start offset and duration, in
// order of start.
func printPhases(deliveries []map[string]phase) {
	starts, durs := map[string][]time.Duration{}, map[string][]time.Duration{}
	for _, d := range deliveries {
		for name, p := range d {
			starts[name] = append(starts[name], p.start)
			durs[name] = append(durs[name], p.dur)
		}
	}
	names := make([]string, 0, len(starts))
	for name := range starts {
		names = append(names, name)
	}
	sort.Slice(names, func(a, b int) bool { return median(starts[names[a]]) < median(starts[names[b]]) })
	fmt.Printf("  phases before the first step (median over deliveries, offsets from the webhook POST):\n")
	fmt.Printf("    %-52s %9s %9s %6s\n", "phase", "starts at", "takes", "seen")
	for _, name := range names {
		fmt.Printf("    %-52s %9s %9s %3d/%d\n", strings.TrimSpace(name), benchserver.MS(median(starts[name])),
			benchserver.MS(median(durs[name])), len(starts[name]), len(deliveries))
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	return s[len(s)/2]
}

// loadAvg returns the 1-minute load average ("?" when unknown).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
