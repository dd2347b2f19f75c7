package sandbox

import (
	"errors"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/agent"
)

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		spec Spec
		ok   bool
	}{
		{Spec{ID: "run-12-job-3"}, true},
		{Spec{ID: "a"}, true},
		{Spec{ID: strings.Repeat("a", 63)}, true},
		{Spec{ID: ""}, false},
		{Spec{ID: "-a"}, false},
		{Spec{ID: "A"}, false},
		{Spec{ID: "a/b"}, false},
		{Spec{ID: ".."}, false},
		{Spec{ID: strings.Repeat("a", 64)}, false},
		{Spec{ID: "a", CPUs: -1}, false},
		{Spec{ID: "a", MemoryMiB: -1}, false},
	}
	for _, tt := range tests {
		if err := tt.spec.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v): got %v, want ok=%t", tt.spec, err, tt.ok)
		}
	}
}

func TestInstanceCloseOnce(t *testing.T) {
	calls := 0
	want := errors.New("boom")
	inst := NewInstance(nil, agent.Layout{}, "test", func() error { calls++; return want })
	for range 3 {
		if err := inst.Close(); !errors.Is(err, want) {
			t.Errorf("Close: got %v, want %v", err, want)
		}
	}
	if calls != 1 {
		t.Errorf("close function called %d times, want 1", calls)
	}
	if err := NewInstance(nil, agent.Layout{}, "test", nil).Close(); err != nil {
		t.Errorf("Close without a close function: got %v", err)
	}
}
