package workflow

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func billionLaughs() string {
	var b strings.Builder
	b.WriteString("on: push\nx0: &a0 [\"lol\"]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "x%d: &a%d [%s*a%d]\n", i, i, strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 9), i-1)
	}
	b.WriteString("jobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n        v: *a9\n    steps:\n      - run: echo\n")
	return b.String()
}

func job(body string) string {
	return "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n" + body + "    steps:\n      - run: echo\n"
}

// TestLoadLimits: hostile or oversized files fail with a limits problem
// (and quickly: durations are logged, not asserted).
func TestLoadLimits(t *testing.T) {
	deep := "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo\n    env:\n      E: " +
		strings.Repeat("[", 60) + strings.Repeat("]", 60) + "\n"
	var vector strings.Builder
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&vector, "%d, ", i)
	}
	tests := []struct {
		name, src, want string
	}{
		{"billion laughs", billionLaughs(), "maximum object size exceeded"},
		{"depth", deep, "maximum object depth exceeded"},
		{"matrix vector", job("    strategy:\n      matrix:\n        v: [" + vector.String() + "]\n"), `matrix "v" has 300 entries`},
		{"file size", job("    env:\n      A: " + strings.Repeat("x", 1<<20) + "\n"), "maximum file size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := Load("w.yml", []byte(tt.src))
			t.Logf("%s: %v", tt.name, time.Since(start))
			var le *LoadError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), tt.want) || le.Problems[0].Kind != "limits" {
				t.Errorf("Load error = %v, want a limits problem containing %q", err, tt.want)
			}
		})
	}
}

// TestLoadLarge: big but legal files load (durations logged).
func TestLoadLarge(t *testing.T) {
	var env, jobs, exprs strings.Builder
	for i := 0; i < 40000; i++ {
		fmt.Fprintf(&env, "      V%d: x\n", i)
	}
	jobs.WriteString("on: push\njobs:\n")
	for i := 0; i < 2000; i++ {
		need := ""
		if i > 0 {
			need = fmt.Sprintf("    needs: j%d\n", i-1)
		}
		fmt.Fprintf(&jobs, "  j%d:\n%s    runs-on: x\n    steps:\n      - run: echo\n", i, need)
	}
	exprs.WriteString(strings.Repeat("${{ github.sha }} ", 20000))
	tests := []struct{ name, src string }{
		{"40k env vars", job("    env:\n" + env.String())},
		{"2000 chained jobs", jobs.String()},
		{"20k expressions", job("    env:\n      A: " + exprs.String() + "\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			w, err := Load("w.yml", []byte(tt.src))
			if err != nil {
				t.Fatalf("Load: %.300v", err)
			}
			if _, err := w.Stages(); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s (%d bytes): %v", tt.name, len(tt.src), time.Since(start))
		})
	}
}
