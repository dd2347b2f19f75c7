package runner

import (
	"fmt"
	"strings"
)

// Limits bound what one job may store: its log, step summaries, outputs and
// file-command files. A zero field takes its default.
type Limits struct {
	// StepLogBytes caps the log kept for one step (default 16 MiB): its
	// first quarter and its last three quarters are kept, with a line saying
	// how much was omitted between them.
	StepLogBytes int64
	// JobLogBytes caps a job's log (default 64 MiB). Once a job has stored
	// that much, each further step keeps MinStepLogBytes (its head and tail).
	JobLogBytes int64
	// SummaryBytes caps one step's GITHUB_STEP_SUMMARY (default 1 MiB, as
	// GitHub); a larger summary is dropped with an error, as GitHub does.
	SummaryBytes int64
	// JobSummaryBytes caps a job's step summaries together (default 8 MiB);
	// a step summary that would pass it is dropped with a warning.
	JobSummaryBytes int64
	// OutputBytes caps the total of a job's outputs (default 1 MiB, as GitHub).
	OutputBytes int64
	// FileCommandBytes caps each of a step's GITHUB_ENV, GITHUB_OUTPUT,
	// GITHUB_STATE and GITHUB_PATH files (default 1 MiB); a larger file is
	// not applied and fails the step.
	FileCommandBytes int64
}

// MinStepLogBytes is what a step keeps of its log once the job's log is full.
const MinStepLogBytes = 64 << 10

// WithDefaults returns l with its zero fields set to the defaults.
func (l Limits) WithDefaults() Limits {
	def := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.StepLogBytes, 16<<20)
	def(&l.JobLogBytes, 64<<20)
	def(&l.SummaryBytes, 1<<20)
	def(&l.JobSummaryBytes, 8<<20)
	def(&l.OutputBytes, 1<<20)
	def(&l.FileCommandBytes, 1<<20)
	return l
}

// cappedSink stands between the runner and its Sink: it masks step names and
// keeps each step's log within its budget (the head as it comes, the tail in
// a bounded ring written when the step finishes, with a line saying how many
// bytes were omitted between them).
type cappedSink struct {
	sink    Sink
	masker  *Masker
	limits  Limits
	jobUsed int64
	steps   map[int]*stepLog
}

// stepLog is one step's log accounting.
type stepLog struct {
	headMax, tailMax int64
	head             int64 // bytes passed on as the head
	tail             []string
	tailFirst        int // index of the oldest line kept in tail
	tailBytes        int64
	omitted          int64
	omittedLines     int64
}

func newCappedSink(sink Sink, masker *Masker, limits Limits) *cappedSink {
	return &cappedSink{sink: sink, masker: masker, limits: limits.WithDefaults(), steps: map[int]*stepLog{}}
}

func (c *cappedSink) step(idx int) *stepLog {
	st := c.steps[idx]
	if st == nil {
		budget := min(c.limits.StepLogBytes, max(c.limits.JobLogBytes-c.jobUsed, MinStepLogBytes))
		st = &stepLog{headMax: budget / 4}
		st.tailMax = budget - st.headMax
		c.steps[idx] = st
	}
	return st
}

func (c *cappedSink) StepStarted(idx int, name string) {
	c.sink.StepStarted(idx, c.masker.Mask(name))
}

// StepLog passes line on while the step's head has room, then keeps the
// newest lines that fit the tail.
func (c *cappedSink) StepLog(idx int, line string) {
	// Lines are masked already, so cutting one reveals nothing; no line
	// longer than maxLine is stored (stored chunks stay small).
	for len(line) > maxLine {
		c.stepLog(idx, line[:maxLine])
		line = line[maxLine:]
	}
	c.stepLog(idx, line)
}

func (c *cappedSink) stepLog(idx int, line string) {
	st := c.step(idx)
	if int64(len(line)) >= st.tailMax {
		line = line[:st.tailMax-1]
	}
	n := int64(len(line)) + 1
	if st.omitted == 0 && len(st.tail) == 0 && st.head+n <= st.headMax {
		st.head += n
		c.jobUsed += n
		c.sink.StepLog(idx, line)
		return
	}
	st.tail = append(st.tail, line)
	st.tailBytes += n
	for st.tailBytes > st.tailMax {
		old := st.tail[st.tailFirst]
		st.tail[st.tailFirst] = ""
		st.tailFirst++
		st.tailBytes -= int64(len(old)) + 1
		st.omitted += int64(len(old)) + 1
		st.omittedLines++
	}
	if st.tailFirst > 1024 && st.tailFirst > len(st.tail)/2 {
		st.tail = append(st.tail[:0], st.tail[st.tailFirst:]...)
		st.tailFirst = 0
	}
}

// flush writes what a step holds back: the omission notice and the tail.
func (c *cappedSink) flush(idx int) {
	st := c.steps[idx]
	if st == nil {
		return
	}
	if st.omitted > 0 {
		c.sink.StepLog(idx, fmt.Sprintf("##[warning]… %d bytes (%d lines) of this step's log omitted: a step keeps the first %s and the last %s of its log …",
			st.omitted, st.omittedLines, sizeString(st.headMax), sizeString(st.tailMax)))
	}
	for _, l := range st.tail[st.tailFirst:] {
		c.sink.StepLog(idx, l)
	}
	c.jobUsed += st.tailBytes
	st.head += st.tailBytes
	st.tail, st.tailFirst, st.tailBytes = nil, 0, 0
	st.omitted, st.omittedLines = 0, 0
	st.headMax = st.head // a step logging after it finished goes on into its tail
}

func (c *cappedSink) StepFinished(idx int, r StepResult) {
	c.flush(idx)
	r.Name = c.masker.Mask(r.Name)
	c.sink.StepFinished(idx, r)
}

// flushAll writes every step's held-back tail (at the end of a job).
func (c *cappedSink) flushAll() {
	for idx := range c.steps {
		c.flush(idx)
	}
}

// sizeString is n in the largest binary unit that divides it evenly, else bytes.
func sizeString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// tooBig describes a file-command file over its limit.
func tooBig(file string, size, limit int64) string {
	return fmt.Sprintf("GITHUB_%s is %d bytes, more than the limit of %s: not applied", strings.ToUpper(file), size, sizeString(limit))
}
