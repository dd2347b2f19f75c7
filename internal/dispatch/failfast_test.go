package dispatch

import (
	"fmt"
	"strings"
	"testing"
)

// TestFailFastKeepsOwnFailure: leg a fails by itself and is still running an
// always() step when leg b fails and fail-fast cancels a: a stays "failure"
// (it failed on its own), b is "failure", neither is relabelled "cancelled".
func TestFailFastKeepsOwnFailure(t *testing.T) {
	e := newEnv(t)
	marks := t.TempDir()
	id := e.push(map[string]string{".github/workflows/ci.yml": fmt.Sprintf(`
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        leg: [a, b]
    steps:
      - run: |
          if [ "${{ matrix.leg }}" = a ]; then touch %[1]s/a-failed; exit 1; fi
          while [ ! -f %[1]s/a-failed ]; do sleep 0.05; done
          exit 1
      - if: always() && matrix.leg == 'a'
        run: while true; do sleep 0.05; done
`, marks)})
	_, jobs := e.wait(id)
	if want := "t (a)=failure t (b)=failure"; conclusions(jobs) != want {
		t.Errorf("conclusions = %s, want %s", conclusions(jobs), want)
	}
	if l := e.log(jobs["t (a)"].ID); !strings.Contains(l, "The operation was canceled") {
		t.Errorf("leg a was not cancelled by fail-fast (the test proves nothing); log:\n%s", l)
	}
}

// TestFailFastMessage: leg a fails while leg b runs and leg c is held back
// by max-parallel; fail-fast cancels b and c, and each says why in GitHub's
// words (the message the run page and the API's job show).
func TestFailFastMessage(t *testing.T) {
	e := newEnv(t)
	marks := t.TempDir()
	id := e.push(map[string]string{".github/workflows/ci.yml": fmt.Sprintf(`
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    strategy:
      max-parallel: 2
      matrix:
        leg: [a, b, c]
    steps:
      - run: |
          if [ "${{ matrix.leg }}" = a ]; then
            while [ ! -f %[1]s/b-started ]; do sleep 0.05; done
            exit 1
          fi
          touch %[1]s/b-started
          sleep 600
`, marks)})
	_, jobs := e.wait(id)
	if want := "t (a)=failure t (b)=cancelled t (c)=cancelled"; conclusions(jobs) != want {
		t.Fatalf("conclusions = %s, want %s", conclusions(jobs), want)
	}
	want := `The strategy configuration was canceled because "t (a)" failed`
	for _, leg := range []string{"t (b)", "t (c)"} {
		if got := jobs[leg].Message; got != want {
			t.Errorf("%s: got message %q, want %q", leg, got, want)
		}
	}
	if got := jobs["t (a)"].Message; got != "" {
		t.Errorf("t (a) (failed by itself): got message %q, want none", got)
	}
}
