package sandbox

import (
	"errors"
	"testing"

	"github.com/hookci/hookci/internal/agent"
)

// TestStopAndClose: AfterStop hooks run once, when the processes are gone
// (a Stop that succeeded, else Close); AfterClose hooks only at Close; a
// backend without a stop reports false.
func TestStopAndClose(t *testing.T) {
	for _, tt := range []struct {
		name                  string
		stop                  func() error
		wantStopped           bool
		goneAfterStop, closed int
	}{
		{"stops", func() error { return nil }, true, 1, 1},
		{"stop fails", func() error { return errors.New("stuck") }, true, 0, 1},
		{"no stop", nil, false, 0, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gone, closed, destroyed := 0, 0, 0
			inst := NewInstance(nil, agent.Layout{}, "test", func() error { destroyed++; return nil })
			if tt.stop != nil {
				inst.SetStop(tt.stop)
			}
			inst.AfterStop(func() { gone++ })
			inst.AfterClose(func() { closed++ })
			stopped, _ := inst.Stop()
			if stopped != tt.wantStopped || gone != tt.goneAfterStop || closed != 0 || destroyed != 0 {
				t.Errorf("after Stop: stopped %v, gone %d, closed %d, destroyed %d; want %v, %d, 0, 0",
					stopped, gone, closed, destroyed, tt.wantStopped, tt.goneAfterStop)
			}
			inst.Close()
			inst.Close()
			if gone != 1 || closed != tt.closed || destroyed != 1 {
				t.Errorf("after Close: gone %d, closed %d, destroyed %d; want 1, %d, 1", gone, closed, destroyed, tt.closed)
			}
		})
	}
}
