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
