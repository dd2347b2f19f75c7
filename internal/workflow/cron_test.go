package workflow

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseCronNext(t *testing.T) {
	cases := []struct {
		spec, tz, after string
		want            []string // the next matches after "after"
	}{
		{"30 5,17 * * *", "", "2026-12-04 06:00", []string{"2026-12-04 17:30", "2026-12-05 05:30"}},
		{"*/15 * * * *", "", "2026-12-04 06:00", []string{"2026-12-04 06:15", "2026-12-04 06:30"}},
		{"0 9-17/4 * * *", "", "2026-12-04 06:00", []string{"2026-12-04 09:00", "2026-12-04 13:00", "2026-12-04 17:00", "2026-12-05 09:00"}},
		{"3/20 * * * *", "", "2026-12-04 06:00", []string{"2026-12-04 06:03", "2026-12-04 06:23", "2026-12-04 06:43"}},
		{"0 0 * * MON-FRI", "", "2026-12-04 06:00", []string{"2026-12-07 00:00", "2026-12-08 00:00"}}, // 4 Dec 2026 is a Friday
		{"0 0 * * sun", "", "2026-12-04 06:00", []string{"2026-12-06 00:00"}},
		{"0 12 1 JAN,jul *", "", "2026-12-04 06:00", []string{"2027-01-01 12:00", "2027-07-01 12:00"}},
		// Both day fields restricted: either matches (POSIX).
		{"0 0 13 * 5", "", "2026-12-04 06:00", []string{"2026-12-11 00:00", "2026-12-13 00:00", "2026-12-18 00:00"}},
		// In a time zone: 09:00 in New York is 14:00 UTC in December.
		{"0 9 * * *", "America/New_York", "2026-12-04 06:00", []string{"2026-12-04 14:00", "2026-12-05 14:00"}},
	}
	for _, c := range cases {
		cr, err := ParseCron(c.spec, c.tz)
		if err != nil {
			t.Errorf("ParseCron(%q, %q): %v", c.spec, c.tz, err)
			continue
		}
		at := utc(c.after)
		for _, w := range c.want {
			at = cr.Next(at)
			if got := at.Format("2006-01-02 15:04"); got != w {
				t.Errorf("%q: got next %s, want %s", c.spec, got, w)
				break
			}
		}
	}
}

func TestParseCronInvalid(t *testing.T) {
	cases := []struct{ spec, tz, want string }{
		{"@daily", "", "does not support the non-standard syntax @daily"},
		{"@hourly", "", "non-standard syntax"},
		{"* * * *", "", "want 5 fields"},
		{"0 0 * * * *", "", "want 5 fields"},
		{"60 * * * *", "", "invalid cron"},
		{"* 24 * * *", "", "invalid cron"},
		{"* * 0 * *", "", "invalid cron"},
		{"* * * 13 *", "", "invalid cron"},
		{"* * * * 7", "", "invalid cron"},
		{"5-1 * * * *", "", "invalid cron"},
		{"*/0 * * * *", "", "invalid cron"},
		{"x * * * *", "", "invalid cron"},
		{"TZ=UTC 0 0 * * *", "", "timezone key"},
		{"", "", "cron is empty"},
		{"0 0 * * *", "Mars/Olympus", "invalid timezone"},
	}
	for _, c := range cases {
		_, err := ParseCron(c.spec, c.tz)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseCron(%q, %q): got %v, want an error containing %q", c.spec, c.tz, err, c.want)
		}
	}
}

func TestCronMinimumInterval(t *testing.T) {
	cr, err := ParseCron("* * * * *", "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cr.NextAfterRun(utc("2026-12-04 06:00")), utc("2026-12-04 06:05"); !got.Equal(want) {
		t.Errorf("every minute after a run at 06:00: got %s, want %s (GitHub's 5-minute minimum)", got, want)
	}
	cr2, _ := ParseCron("*/2 * * * *", "")
	if got, want := cr2.NextAfterRun(utc("2026-12-04 06:00")), utc("2026-12-04 06:06"); !got.Equal(want) {
		t.Errorf("every 2 minutes after a run at 06:00: got %s, want %s", got, want)
	}
	cr3, _ := ParseCron("0 * * * *", "")
	if got, want := cr3.NextAfterRun(utc("2026-12-04 06:00")), utc("2026-12-04 07:00"); !got.Equal(want) {
		t.Errorf("hourly after a run at 06:00: got %s, want %s", got, want)
	}
}

func TestCronDueOneCatchUp(t *testing.T) {
	cr, _ := ParseCron("*/10 * * * *", "")
	cases := []struct {
		last string
		ran  bool
		now  string
		at   string
		due  bool
	}{
		{"2026-12-04 06:00", true, "2026-12-04 06:05", "2026-12-04 06:10", false},
		{"2026-12-04 06:00", true, "2026-12-04 06:10", "2026-12-04 06:10", true},
		// Down for three hours: one run, for the latest missed time.
		{"2026-12-04 06:00", true, "2026-12-04 09:07", "2026-12-04 09:00", true},
		// Down for a year.
		{"2025-12-04 06:00", true, "2026-12-04 09:07", "2026-12-04 09:00", true},
		// Registered at 06:03, never ran: the first match after registration.
		{"2026-12-04 06:03", false, "2026-12-04 06:09", "2026-12-04 06:10", false},
		{"2026-12-04 06:03", false, "2026-12-04 06:10", "2026-12-04 06:10", true},
	}
	for _, c := range cases {
		at, due := cr.Due(utc(c.last), c.ran, utc(c.now))
		if !at.Equal(utc(c.at)) || due != c.due {
			t.Errorf("Due(%s, ran=%v, now %s): got %s %v, want %s %v", c.last, c.ran, c.now, at.Format("2006-01-02 15:04"), due, c.at, c.due)
		}
	}
	never, _ := ParseCron("0 0 30 2 *", "")
	if at, due := never.Due(utc("2026-12-04 06:00"), true, utc("2027-12-04 06:00")); due || !at.IsZero() {
		t.Errorf("30 February: got %s %v, want never", at, due)
	}
}

// An invalid cron fails the workflow with its position, as GitHub rejects it.
func TestInvalidCronIsALoadError(t *testing.T) {
	src := "on:\n  push:\n  schedule:\n    - cron: '0 0 * * *'\n    - cron: '@daily'\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n"
	_, err := Load("ci.yml", []byte(src))
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("got %v, want a LoadError", err)
	}
	if got, want := le.Error(), "ci.yml:5:13: invalid cron \"@daily\""; !strings.Contains(got, want) {
		t.Errorf("got %q, want it to contain %q", got, want)
	}
	w, err := Load("ok.yml", []byte(strings.Replace(src, "'@daily'", "'15 4,5 * * *'\n      timezone: Europe/Paris", 1)))
	if err != nil {
		t.Fatal(err)
	}
	got := w.Trigger("schedule").Schedules
	if len(got) != 2 || got[1].Cron != "15 4,5 * * *" || got[1].Timezone != "Europe/Paris" || got[1].Pos != (Pos{5, 13}) {
		t.Errorf("got schedules %+v", got)
	}
}

// TestCronDaylightSaving: in a time zone with DST, a skipped wall-clock time
// runs at the change (GitHub's documented rule) and a repeated one once.
func TestCronDaylightSaving(t *testing.T) {
	cases := []struct {
		spec, after string
		want        []string // UTC
	}{
		// New York springs forward on 14 March 2027 at 02:00 EST → 03:00 EDT (07:00 UTC).
		{"30 2 * * *", "2027-03-12 12:00", []string{"2027-03-13 07:30", "2027-03-14 07:00", "2027-03-15 06:30"}},
		// Several slots in the skipped hour: one run at the change.
		{"*/20 2 * * *", "2027-03-14 06:00", []string{"2027-03-14 07:00", "2027-03-15 06:00"}},
		// Falls back on 7 November 2027 at 02:00 EDT → 01:00 EST: 01:30 runs once.
		{"30 1 * * *", "2027-11-06 12:00", []string{"2027-11-07 05:30", "2027-11-08 06:30"}},
	}
	for _, c := range cases {
		cr, err := ParseCron(c.spec, "America/New_York")
		if err != nil {
			t.Fatal(err)
		}
		at := utc(c.after)
		for _, w := range c.want {
			at = cr.Next(at)
			if got := at.Format("2006-01-02 15:04"); got != w {
				t.Errorf("%q: got next %s, want %s", c.spec, got, w)
				break
			}
		}
	}
}
