package web

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// The raw log carries each line's time as GitHub's downloads do; a chunk
// without times is written as it is; the run page puts the time in a .ts
// span (shown by the "timestamps" toggle) on the line it belongs to.
func TestLogLineTimesShown(t *testing.T) {
	at := time.Date(2026, 12, 4, 15, 30, 1, 123456700, time.UTC)
	timed := store.LogChunk{Data: []byte("one\n::group::g\ntwo\n"), Times: []time.Time{at, at.Add(time.Second), at.Add(2 * time.Second)}}
	var raw bytes.Buffer
	if err := writeTimedLines(&raw, timed); err != nil {
		t.Fatal(err)
	}
	writeTimedLines(&raw, store.LogChunk{Data: []byte("old line\n")})
	want := "2026-12-04T15:30:01.1234567Z one\n2026-12-04T15:30:02.1234567Z ::group::g\n2026-12-04T15:30:03.1234567Z two\nold line\n"
	if got := raw.String(); got != want {
		t.Errorf("raw log:\ngot  %q\nwant %q", got, want)
	}

	var page bytes.Buffer
	lr := newLogRenderer(&page, 7)
	lr.WriteChunk(timed)
	lr.WriteChunk(store.LogChunk{Data: []byte("old line\n")})
	lr.EndStep()
	html := page.String()
	for _, want := range []string{
		`href="#job-7-L1">1</a><span class="ts">2026-12-04T15:30:01.1234567Z </span><span class="c">one`,
		`href="#job-7-L3">3</a><span class="ts">2026-12-04T15:30:03.1234567Z </span><span class="c">two`,
		`href="#job-7-L4">4</a><span class="c">old line`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("rendered log lacks %s:\n%s", want, html)
		}
	}
}
