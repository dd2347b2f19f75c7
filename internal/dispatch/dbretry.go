package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// storeRetryFor bounds how long a finished job's last writes wait for the
// database to come back before the job's end is given up to the queue.
const storeRetryFor = 30 * time.Minute

// retryStore runs write until it succeeds, is refused as stale (the
// attempt was taken over: nothing more of it may be recorded), ctx ends or
// storeRetryFor passes; between tries it waits from 250 ms up to 5 s. A
// job that finished while the database was away so reports once it is
// back, rather than being lost with the failed write.
func retryStore(ctx context.Context, log *slog.Logger, what string, write func() error) error {
	deadline := time.Now().Add(storeRetryFor)
	wait := 250 * time.Millisecond
	for tries := 1; ; tries++ {
		err := write()
		if err == nil || errors.Is(err, store.ErrStale) || ctx.Err() != nil || time.Now().After(deadline) {
			if err == nil && tries > 1 {
				log.Info("database back: "+what+" written", "tries", tries)
			}
			return err
		}
		if tries == 1 {
			log.Warn("cannot write "+what+" (database unavailable?): retrying until it is back", "err", err)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}
