package runner

import (
	"strings"
	"testing"
)

// TestLongLogLineIsCut: a 200,000-character line (no newline until its end)
// is stored as pieces of at most maxLine bytes, losing nothing and keeping
// the step green (issue 13 item 4, log line length).
func TestLongLogLineIsCut(t *testing.T) {
	src := `
on: push
jobs:
  j:
    runs-on: x
    steps:
      - run: head -c 200000 /dev/zero | tr '\0' a; echo END
`
	res, rec := runJob(t, src, "j", nil)
	if res.Conclusion != "success" {
		t.Fatalf("conclusion = %s; log:\n%.2000s", res.Conclusion, rec.all())
	}
	var joined strings.Builder
	for i, l := range rec.logs[1] {
		if len(l) > maxLine {
			t.Errorf("stored line %d is %d bytes, want at most %d", i, len(l), maxLine)
		}
		joined.WriteString(l)
	}
	if got, want := joined.String(), strings.Repeat("a", 200000)+"END"; got != want {
		t.Errorf("the pieces joined: got %d bytes (ends %q), want the %d-byte line", len(got), got[max(0, len(got)-10):], len(want))
	}
	if n := len(rec.logs[1]); n < 200003/maxLine {
		t.Errorf("got %d pieces, want the line cut at %d bytes", n, maxLine)
	}
}
