package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"
)

// Per-line log times (migration 11): each log chunk carries, beside its
// bytes, the time each of its lines was written, so that the run page can
// show them on demand and the raw log carries them as GitHub's does. The
// times are one compact column per chunk rather than a row per line: the
// first line's time in units of 100 ns since the Unix epoch (GitHub prints
// seven fractional digits), then each next line's difference from the one
// before, all as signed varints — two or three bytes a line. A chunk
// written before the migration, or by a writer that gives no times, has
// none.

// logTimesMigration adds the column. It is migration 11 (the list's
// eleventh entry).
var logTimesMigration = migration{
	SQLite:   `ALTER TABLE log_chunks ADD COLUMN line_times BLOB`,
	Postgres: `ALTER TABLE log_chunks ADD COLUMN line_times BYTEA`,
}

// AppendLogTimed adds a chunk to a job's log, attributed to step stepIdx,
// with the time each of its lines was written (times[i] is line i's; nil
// for none).
func (q *Queries) AppendLogTimed(ctx context.Context, jobID int64, stepIdx int, data []byte, times []time.Time) error {
	_, err := q.db.ExecContext(ctx, `INSERT INTO log_chunks (job_id, seq, step_idx, data, line_times)
		VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM log_chunks WHERE job_id = ?), ?, ?, ?)`,
		jobID, jobID, stepIdx, data, EncodeLineTimes(times))
	if err != nil {
		return fmt.Errorf("store: append log: %w", err)
	}
	return nil
}

// tick is the resolution of stored line times.
const tick = 100 * time.Nanosecond

// EncodeLineTimes packs line times into the column's form (nil for none).
func EncodeLineTimes(times []time.Time) []byte {
	if len(times) == 0 {
		return nil
	}
	out := make([]byte, 0, 8+3*len(times))
	prev := int64(0)
	for _, t := range times {
		v := t.UnixNano() / int64(tick)
		out = binary.AppendVarint(out, v-prev)
		prev = v
	}
	return out
}

// DecodeLineTimes unpacks the column (nil for none or for bytes that do not
// decode: a log is shown without times rather than not at all).
func DecodeLineTimes(b []byte) []time.Time {
	if len(b) == 0 {
		return nil
	}
	var out []time.Time
	prev := int64(0)
	for len(b) > 0 {
		d, n := binary.Varint(b)
		if n <= 0 {
			return nil
		}
		b = b[n:]
		prev += d
		out = append(out, time.Unix(0, prev*int64(tick)).UTC())
	}
	return out
}

// FormatLineTime is a line time as GitHub's raw logs print it:
// 2026-12-04T15:30:01.1234567Z.
func FormatLineTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.0000000Z")
}
