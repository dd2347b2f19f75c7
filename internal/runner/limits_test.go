package runner

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// TestStepLogKeepsHeadAndTail: a step writing far more than its log budget
// keeps its first quarter and last three quarters with the omission line
// between; once the job's budget is spent a further step keeps only
// MinStepLogBytes (real agent, host sandbox).
func TestStepLogKeepsHeadAndTail(t *testing.T) {
	src := `
on: push
jobs:
  j:
    runs-on: x
    steps:
      - run: seq 1 200000
      - run: seq 1 200000
`
	limits := Limits{StepLogBytes: 256 << 10, JobLogBytes: 300 << 10}
	res, rec := runJob(t, src, "j", func(s *Spec) { s.Limits = limits })
	if res.Conclusion != "success" {
		t.Fatalf("conclusion = %s; log:\n%.2000s", res.Conclusion, rec.all())
	}
	for _, tc := range []struct {
		idx    int
		budget int
	}{{1, 256 << 10}, {2, MinStepLogBytes}} {
		log := rec.log(tc.idx) + "\n"
		if len(log) > tc.budget+300 {
			t.Errorf("step %d kept %d bytes, want at most its budget %d (and the notice)", tc.idx, len(log), tc.budget)
		}
		lines := strings.Split(strings.TrimSuffix(log, "\n"), "\n")
		if lines[0] != "1" || lines[len(lines)-1] != "200000" {
			t.Errorf("step %d: first line %q, last %q, want 1 and 200000", tc.idx, lines[0], lines[len(lines)-1])
		}
		notice := ""
		for i, l := range lines {
			if strings.Contains(l, "of this step's log omitted") {
				notice = l
				prev, _ := strconv.Atoi(lines[i-1])
				next, _ := strconv.Atoi(lines[i+1])
				if prev < 1 || next <= prev+1 {
					t.Errorf("step %d: lines around the notice %d, %d: want the head, then a gap, then the tail", tc.idx, prev, next)
				}
			}
		}
		total := len("1\n2\n3\n4\n5\n6\n7\n8\n9\n")
		for n := 10; n <= 200000; n++ {
			total += len(fmt.Sprint(n)) + 1
		}
		want := fmt.Sprintf("##[warning]… %d bytes", total-(len(log)-len(notice)-1))
		if !strings.HasPrefix(notice, want) {
			t.Errorf("step %d: notice %q, want it to start %q", tc.idx, notice, want)
		}
	}
}

// TestFileCommandAndOutputLimits: a GITHUB_ENV over its limit is not applied
// and fails the step (its content never read whole); job outputs beyond the
// total limit are dropped with a warning.
func TestFileCommandAndOutputLimits(t *testing.T) {
	src := `
on: push
jobs:
  j:
    runs-on: x
    outputs:
      a: ${{ steps.o.outputs.a }}
      b: ${{ steps.o.outputs.b }}
    steps:
      - id: o
        run: |
          echo "a=$(head -c 600 /dev/zero | tr '\0' a)" >> "$GITHUB_OUTPUT"
          echo "b=$(head -c 600 /dev/zero | tr '\0' b)" >> "$GITHUB_OUTPUT"
      - continue-on-error: true
        run: |
          { printf 'BIG='; head -c 5000 /dev/zero | tr '\0' x; echo; } >> "$GITHUB_ENV"
      - run: echo "BIG is [${BIG:-unset}]"
      - run: head -c 3000 /dev/zero | tr '\0' s > "$GITHUB_STEP_SUMMARY"
      - run: head -c 3000 /dev/zero | tr '\0' t > "$GITHUB_STEP_SUMMARY"
      - run: head -c 5000 /dev/zero | tr '\0' u > "$GITHUB_STEP_SUMMARY"
`
	res, rec := runJob(t, src, "j", func(s *Spec) {
		s.Limits = Limits{OutputBytes: 1000, FileCommandBytes: 4096, SummaryBytes: 4096, JobSummaryBytes: 5000}
	})
	if l := rec.log(6); !strings.Contains(l, "$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of 4k, got 4k.") {
		t.Errorf("step 6 log lacks GitHub's summary error:\n%.300s", l)
	}
	if l := rec.log(5); !strings.Contains(l, "$GITHUB_STEP_SUMMARY of 3000 bytes dropped: the job's summaries would exceed 5000 bytes.") {
		t.Errorf("step 5 log lacks the job summary limit warning:\n%.300s", l)
	}
	if res.Summary != strings.Repeat("s", 3000)+"\n" {
		t.Errorf("job summary = %d bytes starting %.10q, want the first step's 3000", len(res.Summary), res.Summary)
	}
	if got := rec.res[2].Outcome; got != "failure" {
		t.Errorf("oversized GITHUB_ENV step outcome = %s, want failure", got)
	}
	if l := rec.log(2); !strings.Contains(l, "GITHUB_ENV is 5005 bytes, more than the limit of 4 KiB: not applied") {
		t.Errorf("step 2 log lacks the limit error:\n%s", l)
	}
	if l := rec.log(3); !strings.Contains(l, "BIG is [unset]") {
		t.Errorf("the oversized GITHUB_ENV was applied:\n%.300s", l)
	}
	if _, ok := res.Outputs["a"]; !ok || len(res.Outputs) != 1 {
		t.Errorf("outputs = %d (a present: %v), want only a within 1000 bytes", len(res.Outputs), ok)
	}
	if !strings.Contains(rec.all(), "Skip output 'b': the job's outputs exceed the limit of 1000 bytes.") {
		t.Errorf("no warning for the dropped output:\n%.2000s", rec.all())
	}
}
