package microvm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// accelVerdict is WorkDir/accel.json: the outcome of the KVM probe for one
// combination of host kernel, QEMU and guest kernel.
type accelVerdict struct {
	Key    string `json:"key"`
	Accel  string `json:"accel"`
	Reason string `json:"reason"`
}

// resolveAccel returns the accelerator, probing KVM on first use with "auto".
func (b *Backend) resolveAccel(ctx context.Context) (string, error) {
	b.accelMu.Lock()
	defer b.accelMu.Unlock()
	if b.accel != "" {
		return b.accel, nil
	}
	path := filepath.Join(b.cfg.WorkDir, "accel.json")
	key := b.accelKey()
	var v accelVerdict
	if raw, err := os.ReadFile(path); err == nil && json.Unmarshal(raw, &v) == nil && v.Key == key {
		b.accel, b.accelWhy = v.Accel, v.Reason+" (cached)"
		b.logAccel()
		return b.accel, nil
	}
	a, why := b.probeKVM(ctx)
	if ctx.Err() != nil {
		return "", fmt.Errorf("microvm: probing KVM: %w", ctx.Err())
	}
	b.accel, b.accelWhy = a, why
	raw, _ := json.Marshal(accelVerdict{Key: key, Accel: a, Reason: why})
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		b.cfg.Logger.Warn("microvm: saving accelerator verdict", "err", err)
	}
	b.logAccel()
	return a, nil
}

func (b *Backend) logAccel() {
	if b.accel == AccelTCG {
		b.cfg.Logger.Warn("microvm: using TCG (software emulation, roughly 10x slower than KVM)", "why", b.accelWhy)
		return
	}
	b.cfg.Logger.Info("microvm: using KVM", "why", b.accelWhy)
}

// accelKey identifies what the verdict depends on.
func (b *Backend) accelKey() string {
	host, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	parts := []string{strings.TrimSpace(string(host))}
	for _, p := range []string{b.cfg.QEMUPath, b.cfg.Kernel, "/dev/kvm"} {
		fi, err := os.Stat(p)
		if err != nil {
			parts = append(parts, p+":missing")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s:%d:%d", p, fi.Size(), fi.ModTime().UnixNano()))
	}
	return strings.Join(parts, "|")
}

// probeKVM boots the guest once under KVM: only a guest whose agent answers
// proves that KVM works (a nested PVM /dev/kvm opens fine and then fails
// with emulation errors).
func (b *Backend) probeKVM(ctx context.Context) (accel, reason string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return AccelTCG, fmt.Sprintf("/dev/kvm unusable: %v", err)
	}
	f.Close()
	ctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	dir := filepath.Join(b.cfg.WorkDir, "vms", "probe-kvm")
	os.RemoveAll(dir)
	o := vmOptions{shape: vmShape{cpus: 1, memMiB: 256}, accel: AccelKVM}
	start := time.Now()
	v, c, err := b.boot(ctx, dir, o)
	if err != nil {
		first, _, _ := strings.Cut(err.Error(), "\n")
		return AccelTCG, "a guest does not boot under KVM: " + first
	}
	c.Close()
	v.destroy()
	return AccelKVM, fmt.Sprintf("a guest booted under KVM in %v", time.Since(start).Round(time.Millisecond))
}
