package workflow

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// MinScheduleInterval is GitHub's shortest interval between two runs of one
// schedule: a cron that asks for more ("* * * * *") runs every 5 minutes.
const MinScheduleInterval = 5 * time.Minute

// Cron is one parsed on.schedule entry: GitHub's POSIX cron syntax (five
// fields: minute, hour, day of month, month, day of week; "*", lists "a,b",
// ranges "a-b", steps "*/n", "a-b/n" and "a/n"; month names JAN–DEC and day
// names SUN–SAT, case ignored) evaluated in UTC, or in Timezone (an IANA
// name) when the entry sets one. As POSIX, when both day fields are
// restricted a day matching either runs. GitHub's nicknames are not cron:
// "@daily" and the other "@" forms are refused, as is a "TZ=" prefix.
type Cron struct {
	Spec     string
	Timezone string // "" is UTC
	s        *cron.SpecSchedule
	loc      *time.Location
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// ParseCron parses a schedule entry's cron and optional IANA time zone.
func ParseCron(spec, timezone string) (*Cron, error) {
	t := strings.TrimSpace(spec)
	switch {
	case t == "":
		return nil, errors.New("cron is empty")
	case strings.HasPrefix(t, "@"):
		return nil, fmt.Errorf("invalid cron %q: GitHub Actions does not support the non-standard syntax %s; use five fields", spec, strings.Fields(t)[0])
	case strings.HasPrefix(t, "TZ=") || strings.HasPrefix(t, "CRON_TZ="):
		return nil, fmt.Errorf("invalid cron %q: a time zone goes in the schedule's timezone key, not in the cron", spec)
	}
	if n := len(strings.Fields(t)); n != 5 {
		return nil, fmt.Errorf("invalid cron %q: want 5 fields (minute hour day-of-month month day-of-week), got %d", spec, n)
	}
	loc := time.UTC
	if timezone != "" {
		l, err := time.LoadLocation(timezone)
		if err != nil || strings.HasPrefix(timezone, "/") || strings.Contains(timezone, "..") {
			return nil, fmt.Errorf("invalid timezone %q: want an IANA time zone name such as America/New_York", timezone)
		}
		loc = l
	}
	sched, err := cronParser.Parse(t)
	if err != nil {
		return nil, fmt.Errorf("invalid cron %q: %w", spec, err)
	}
	ss, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("invalid cron %q", spec)
	}
	ss.Location = time.UTC // matched against wall-clock time in loc (Next)
	return &Cron{Spec: spec, Timezone: timezone, s: ss, loc: loc}, nil
}

// Next is the first time the cron matches strictly after t, in UTC (the
// zero time when it never matches, as "0 0 30 2 *"). In a time zone the
// cron matches the local wall clock: a time skipped by a daylight saving
// change runs at the change (GitHub: "a 2:30 AM schedule advances to
// 3:00 AM"), and a wall-clock time that happens twice runs once.
func (c *Cron) Next(t time.Time) time.Time {
	if c.loc == time.UTC {
		n := c.s.Next(t.UTC())
		if n.IsZero() {
			return n
		}
		return n.UTC()
	}
	wall := asUTC(t.In(c.loc))
	for range 10000 {
		wn := c.s.Next(wall)
		if wn.IsZero() {
			return wn
		}
		real := time.Date(wn.Year(), wn.Month(), wn.Day(), wn.Hour(), wn.Minute(), 0, 0, c.loc)
		if w := asUTC(real); !w.Equal(wn) {
			// In a skipped hour: the instant the clock jumped, which ends
			// the zone period real fell in (or starts it).
			start, end := real.ZoneBounds()
			if real = start; w.Before(wn) && !end.IsZero() {
				real = end
			}
		}
		if real.After(t) {
			return real.UTC()
		}
		wall = wn
	}
	return time.Time{}
}

// asUTC is t's wall clock read as a UTC time.
func asUTC(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// NextAfterRun is when the schedule runs next after a run at last: the first
// match at least MinScheduleInterval later.
func (c *Cron) NextAfterRun(last time.Time) time.Time {
	return c.Next(last.Add(MinScheduleInterval - time.Nanosecond))
}

// Due says whether the schedule must run at now, given when it ran last
// (or, never having run, since when it exists: then any match after since
// counts). It returns the one time to run for — the latest match not after
// now, so that a schedule missed for hours runs once, not once per missed
// match — and otherwise when it is next due.
func (c *Cron) Due(last time.Time, ran bool, now time.Time) (at time.Time, due bool) {
	first := c.Next(last)
	if ran {
		first = c.NextAfterRun(last)
	}
	if first.IsZero() || first.After(now) {
		return first, false
	}
	// The latest match not after now: search back from now in growing
	// windows, so a minute cron after a long outage takes few steps.
	for _, w := range []time.Duration{time.Hour, 25 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour} {
		from := now.Add(-w)
		if from.Before(first) {
			from = first.Add(-time.Nanosecond)
		}
		t := c.Next(from)
		if t.IsZero() || t.After(now) {
			continue
		}
		for {
			n := c.Next(t)
			if n.IsZero() || n.After(now) {
				return t, true
			}
			t = n
		}
	}
	return first, true
}
