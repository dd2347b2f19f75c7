package workflow

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// YAML 1.2 core schema resolution, as GitHub's reader does it.
func TestScalarResolution(t *testing.T) {
	src := job("    strategy:\n      matrix:\n        v: [0755, 0o10, 0xff, +1, -0, 1.5e2, .5, .inf, -.Inf, .nan, yes, on, True, FALSE, ~, null, '1', \"true\", 12_345, !!str 3, !!int 7, !!float 2, !!bool true, !!null '']\n")
	w, err := Load("w.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := w.Jobs[0].Strategy.Matrix.([]KV)[0].Value
	want := []any{755.0, 8.0, 255.0, 1.0, 0.0, 150.0, 0.5, math.Inf(1), math.Inf(-1), math.NaN(), "yes", "on", true, false, nil, nil,
		"1", "true", "12_345", "3", 7.0, 2.0, true, nil}
	if diff := cmp.Diff(want, got, cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
}

func TestFormatScalar(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{nil, ""}, {"s", "s"}, {true, "true"}, {false, "false"}, {755.0, "755"}, {math.Copysign(0, -1), "0"}, {1.5, "1.5"},
		{math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"}, {math.NaN(), "NaN"}, {1e21, "1E+21"}, {[]any{}, ""},
	}
	for _, tt := range tests {
		if got := FormatScalar(tt.in); got != tt.want {
			t.Errorf("FormatScalar(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
