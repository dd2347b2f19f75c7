// Package trace records where the time of a run goes: named phases (config,
// store open, migrations, planning, git, queue pickups, sandbox start, each
// step, report) as spans with a start time and a duration, written one JSON
// object per line as each span ends.
//
// Tracing is off unless a Recorder is put in the context (hookci does so
// when HOOKCI_TRACE names a file); with none, Begin and Record cost a context
// lookup and nothing else. The same code runs traced or not: there is no
// second path. bench/phases reads the lines back and prints the phase table.
package trace

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"
)

// Span is one timed phase.
type Span struct {
	// Name says what ran ("store open", "git fetch", "step 2: Build").
	Name string `json:"name"`
	// Start is when the phase began (wall clock, so spans of two processes
	// on one machine line up).
	Start time.Time `json:"start"`
	// Dur is how long it took.
	Dur time.Duration `json:"dur_ns"`
	// PID is the process that recorded it.
	PID int `json:"pid"`
}

// Recorder writes finished spans to a writer, one JSON line each. It is safe
// for concurrent use.
type Recorder struct {
	pid int

	mu  sync.Mutex // guards w
	w   io.Writer
	err error
}

// New returns a Recorder writing to w.
func New(w io.Writer) *Recorder { return &Recorder{w: w, pid: os.Getpid()} }

// OpenFile returns a Recorder appending to the file at path (created if
// needed) and the function that closes it.
func OpenFile(path string) (*Recorder, func() error, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("trace: %w", err)
	}
	return New(f), f.Close, nil
}

// Record writes a span that began at start and took d. A nil Recorder
// records nothing.
func (r *Recorder) Record(name string, start time.Time, d time.Duration) {
	if r == nil {
		return
	}
	b, err := json.Marshal(Span{Name: name, Start: start, Dur: d, PID: r.pid})
	if err != nil {
		return
	}
	b = append(b, '\n')
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		// One write per line: with O_APPEND, lines of several processes
		// sharing the file do not interleave.
		_, r.err = r.w.Write(b)
	}
}

type ctxKey struct{}

// NewContext returns ctx carrying r.
func NewContext(ctx context.Context, r *Recorder) context.Context {
	return context.WithValue(ctx, ctxKey{}, r)
}

// FromContext returns the Recorder in ctx, or nil.
func FromContext(ctx context.Context) *Recorder {
	r, _ := ctx.Value(ctxKey{}).(*Recorder)
	return r
}

// Begin starts a span named name and returns the function that ends it
// (`defer trace.Begin(ctx, "planning")()`). Without a Recorder in ctx it
// returns a function that does nothing.
func Begin(ctx context.Context, name string) func() {
	r := FromContext(ctx)
	if r == nil {
		return func() {}
	}
	t0 := time.Now()
	return func() { r.Record(name, t0, time.Since(t0)) }
}

// Record writes a span of the Recorder in ctx, if there is one: for a
// phase whose start was taken elsewhere (a queue job's wait since its
// insert).
func Record(ctx context.Context, name string, start time.Time, d time.Duration) {
	FromContext(ctx).Record(name, start, d)
}

// Read parses the lines a Recorder wrote, in start order.
func Read(r io.Reader) ([]Span, error) {
	var spans []Span
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var s Span
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return nil, fmt.Errorf("trace: line %d: %w", n, err)
		}
		spans = append(spans, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	sort.SliceStable(spans, func(a, b int) bool { return spans[a].Start.Before(spans[b].Start) })
	return spans, nil
}
