package web

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// logHub follows running jobs' logs for the SSE viewers (stream.go): one
// feed per followed job, read from the store by one poller and fanned out
// to every subscriber. The feed keeps the job's encoded events in memory
// (up to heldBytes), so a viewer joining reads no store; the chunks one poll
// finds go to each subscriber as one batch (one write, one flush), and a
// feed fans out at most every gap per subscriber (5 ms: one viewer sees a
// chunk at once, 200 viewers wait up to a second), so however many follow a
// chatty job, the fan-out costs about 200 writes a second, not one per
// chunk per viewer.
type logHub struct {
	st   *store.Store
	log  *slog.Logger
	tick time.Duration // the poll when no flush wakes the feed
	gap  time.Duration // per subscriber: a feed fans out at most every len(subs)*gap (up to maxGap)
	max  int           // bytes of events a feed holds (heldBytes)

	mu    sync.Mutex // guards feeds and every feed's fields
	feeds map[int64]*jobFeed
}

// jobFeed is one followed job.
type jobFeed struct {
	subs map[chan feedItem]bool
	last int64      // the highest seq read
	base int64      // held holds every chunk after base
	held []feedItem // one per chunk, in order
	size int        // bytes in held
	max  int        // the most bytes held

	ready      chan struct{} // closed when loaded
	err        error         // the load failed
	done       bool          // the job had completed when loaded (conclusion)
	conclusion string
}

// feedItem is a chunk's event (or a batch of them: seq is the last one's),
// or the job's end.
type feedItem struct {
	seq        int64
	data       []byte
	end        bool
	conclusion string
}

// subscription is what subscribe gives a viewer: the chunks after base the
// feed holds (those after the viewer's position), and the channel of what
// comes next; feed is nil when the job has completed (the whole log is in
// the store; conclusion is its end).
type subscription struct {
	feed       chan feedItem
	base       int64
	held       []feedItem
	conclusion string
}

const (
	// feedBuffer is how many batches a subscriber may lag behind before it
	// is dropped (and reconnects).
	feedBuffer = 256
	// heldBytes bounds the events a feed keeps in memory; older ones are
	// read from the store by a viewer that asks for them.
	heldBytes = 4 << 20
	// maxGap bounds the wait between two fan-outs however many follow.
	maxGap = time.Second
)

func newLogHub(st *store.Store, log *slog.Logger) *logHub {
	return &logHub{st: st, log: log, tick: 250 * time.Millisecond, gap: 5 * time.Millisecond, max: heldBytes, feeds: map[int64]*jobFeed{}}
}

// subscribe returns job id's log after seq after: a completed job's
// conclusion, or a running job's feed. The first viewer of a job loads the
// feed (the job's log so far) and starts its poller; viewers arriving
// meanwhile wait for that load rather than reading the store too. A job
// that does not exist is store.ErrNotFound.
func (h *logHub) subscribe(ctx context.Context, id, after int64) (subscription, error) {
	for {
		h.mu.Lock()
		f := h.feeds[id]
		if f == nil {
			f = &jobFeed{subs: map[chan feedItem]bool{}, max: h.max, ready: make(chan struct{})}
			h.feeds[id] = f
			h.mu.Unlock()
			// f is this goroutine's until ready is closed.
			job, err := h.load(context.WithoutCancel(ctx), id, f)
			h.mu.Lock()
			f.err, f.conclusion = err, job.Conclusion
			if err != nil || job.Status == store.StatusCompleted {
				f.done = true
				delete(h.feeds, id)
			} else {
				go h.poll(id, f)
			}
			close(f.ready)
			h.mu.Unlock()
		} else {
			h.mu.Unlock()
		}
		select {
		case <-f.ready:
		case <-ctx.Done():
			return subscription{}, ctx.Err()
		}
		h.mu.Lock()
		switch {
		case f.err != nil:
			h.mu.Unlock()
			return subscription{}, f.err
		case f.done:
			h.mu.Unlock()
			return subscription{base: f.last, conclusion: f.conclusion}, nil
		case h.feeds[id] == f:
			sub := f.add(after)
			h.mu.Unlock()
			return sub, nil
		}
		h.mu.Unlock() // the feed ended meanwhile (its job completed): look again
	}
}

// load reads job id's state, then its log so far (the state first: a job
// seen completed has all its log stored), into f.
func (h *logHub) load(ctx context.Context, id int64, f *jobFeed) (store.Job, error) {
	q := h.st.Queries()
	job, err := q.Job(ctx, id)
	if err != nil {
		return job, err
	}
	if job.Status == store.StatusCompleted {
		f.last, err = q.LastLogSeq(ctx, id)
		return job, err
	}
	err = q.EachLog(ctx, id, 0, func(c store.LogChunk) error {
		f.hold(c.Seq, logEvent(c))
		return nil
	})
	return job, err
}

// add registers a subscriber positioned at after (h.mu held).
func (f *jobFeed) add(after int64) subscription {
	ch := make(chan feedItem, feedBuffer)
	f.subs[ch] = true
	sub := subscription{feed: ch, base: f.base}
	for i, it := range f.held {
		if it.seq > after {
			sub.held = f.held[i:len(f.held):len(f.held)]
			break
		}
	}
	return sub
}

// hold keeps a chunk's event, dropping the oldest beyond f.max bytes.
func (f *jobFeed) hold(seq int64, ev []byte) {
	f.held = append(f.held, feedItem{seq: seq, data: ev})
	f.size += len(ev)
	f.last = seq
	n := 0
	for f.size > f.max && n < len(f.held)-1 {
		f.size -= len(f.held[n].data)
		f.base = f.held[n].seq
		n++
	}
	if n > 0 {
		f.held = append([]feedItem(nil), f.held[n:]...)
	}
}

func (h *logHub) unsubscribe(id int64, ch chan feedItem) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f := h.feeds[id]; f != nil && f.subs[ch] {
		delete(f.subs, ch)
		close(ch)
	}
}

// poll reads job id's new chunks when a flush wakes it (or every tick) and
// fans them out until the job completes or nobody follows it.
func (h *logHub) poll(id int64, f *jobFeed) {
	ctx := context.Background()
	q := h.st.Queries()
	var lastOut time.Time
	for {
		h.st.WaitLog(ctx, id, h.tick) // woken by a flush on any host (store/lognotify.go), else the tick
		h.mu.Lock()
		gap := min(time.Duration(len(f.subs))*h.gap, maxGap)
		h.mu.Unlock()
		if wait := gap - time.Since(lastOut); wait > 0 {
			time.Sleep(wait) // let chunks gather: one write per viewer for all of them
		}
		// The job's state before its log: a job seen completed has all its log stored.
		job, err := q.Job(ctx, id)
		var chunks []store.LogChunk
		if err == nil {
			chunks, err = q.LogAfter(ctx, id, f.last)
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			h.log.Warn("following a job's log", "job", id, "err", err)
		}
		var batch []byte
		ends := make([]int, len(chunks))
		for i, c := range chunks {
			batch = append(batch, logEvent(c)...)
			ends[i] = len(batch)
		}
		h.mu.Lock()
		if len(chunks) > 0 {
			start := 0
			for i, c := range chunks {
				f.hold(c.Seq, batch[start:ends[i]:ends[i]])
				start = ends[i]
			}
			f.send(feedItem{seq: f.last, data: batch})
			lastOut = time.Now()
		}
		gone := errors.Is(err, store.ErrNotFound)
		if err == nil && job.Status == store.StatusCompleted || gone || len(f.subs) == 0 {
			for ch := range f.subs {
				select {
				case ch <- feedItem{end: true, conclusion: job.Conclusion}:
				default:
				}
				delete(f.subs, ch)
				close(ch)
			}
			delete(h.feeds, id)
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
	}
}

// send hands it to every subscriber; one whose buffer is full is dropped
// (h.mu held).
func (f *jobFeed) send(it feedItem) {
	for ch := range f.subs {
		select {
		case ch <- it:
		default:
			delete(f.subs, ch)
			close(ch)
		}
	}
}
