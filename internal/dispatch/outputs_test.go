package dispatch

import (
	"strings"
	"testing"
)

// TestRunOutputsLimit: the total of all job outputs of a run is capped
// (GitHub's 50 MB, here 1000 bytes): a later job's output that would pass
// it is dropped with a warning annotation naming it, the earlier job's
// stays, and a dependant sees exactly what was kept.
func TestRunOutputsLimit(t *testing.T) {
	e := newEnvWith(t, func(c *Config) { c.RunOutputBytes = 1000 })
	id := e.push(map[string]string{".github/workflows/ci.yml": `
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    outputs:
      big: ${{ steps.s.outputs.v }}
    steps:
      - id: s
        run: echo "v=$(head -c 600 /dev/zero | tr '\0' a)" >> "$GITHUB_OUTPUT"
  b:
    needs: a
    runs-on: ubuntu-latest
    outputs:
      big: ${{ steps.s.outputs.v }}
      small: ${{ steps.s.outputs.w }}
    steps:
      - id: s
        run: |
          echo "v=$(head -c 600 /dev/zero | tr '\0' b)" >> "$GITHUB_OUTPUT"
          echo "w=fits" >> "$GITHUB_OUTPUT"
  c:
    needs: [a, b]
    runs-on: ubuntu-latest
    steps:
      - run: echo "a=${#A} b=${#B} small=$S"
        env:
          A: ${{ needs.a.outputs.big }}
          B: ${{ needs.b.outputs.big }}
          S: ${{ needs.b.outputs.small }}
`})
	_, jobs := e.wait(id)
	if want := "a=success b=success c=success"; conclusions(jobs) != want {
		t.Fatalf("conclusions = %s, want %s", conclusions(jobs), want)
	}
	if l := e.log(jobs["c"].ID); !strings.Contains(l, "a=600 b=0 small=fits") {
		t.Errorf("c saw the wrong outputs, want a kept, b.big dropped, b.small kept:\n%s", l)
	}
	want := "Skip output 'big': the total of all outputs of this workflow run exceeds the limit of 1000 bytes."
	if !strings.Contains(jobs["b"].Annotations, want) {
		t.Errorf("b annotations = %s, want %q", jobs["b"].Annotations, want)
	}
	if strings.Contains(jobs["a"].Annotations, "Skip output") {
		t.Errorf("a lost an output: %s", jobs["a"].Annotations)
	}
}
