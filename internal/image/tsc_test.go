package image

import (
	"runtime"
	"strings"
	"testing"
)

func TestHostTSCKHz(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("TSC is x86-only")
	}
	got := HostTSCKHz()
	// Any x86-64 built this century counts between 500 MHz and 10 GHz.
	if got < 500_000 || got > 10_000_000 {
		t.Errorf("HostTSCKHz: got %d kHz, want a plausible frequency", got)
	}
	if c := TCGCmdline(); !strings.Contains(c, "tsc_early_khz=") {
		t.Errorf("TCGCmdline: got %q, want tsc_early_khz=", c)
	}
	t.Logf("host TSC: %d kHz", got)
}
