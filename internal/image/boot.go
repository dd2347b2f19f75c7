package image

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Accelerators for BootCheck.
const (
	AccelKVM = "kvm"
	AccelTCG = "tcg"
)

// bootMarker is printed by the guest's first process in BootCheck.
const bootMarker = "hookci-boot-ok"

// TCGCmdline returns kernel parameters to append when booting under TCG:
// the host's TSC frequency (the guest's TSC is the host's under TCG, and
// calibrating it against the emulated PIT fails on a busy host, after which
// the guest can hang) and tsc=reliable (no clocksource watchdog demoting the
// TSC to jiffies). "" where the TSC cannot be measured.
func TCGCmdline() string {
	khz := HostTSCKHz()
	if khz <= 0 {
		return ""
	}
	return fmt.Sprintf("tsc_early_khz=%d tsc=reliable", khz)
}

// BootResult is what BootCheck observed.
type BootResult struct {
	Accel   string        // "kvm" or "tcg"
	OK      bool          // the guest's first user-space process ran and printed the marker
	Elapsed time.Duration // from starting QEMU to the marker (0 if not OK)
	Uname   string        // the guest's `uname -r`
	Uptime  string        // the guest's /proc/uptime seconds when its init ran (guest clock)
	Console string        // the last lines of the serial console
}

// QEMUArgs returns the qemu-system-x86_64 arguments that boot img in a
// microvm machine with its root disk read-only on virtio-blk (virtio-mmio,
// found through ACPI) and the console on the first UART (stdio). Callers add
// their own devices (virtio-serial ports, scratch disks) to the result.
func QEMUArgs(img *Image, accel string, memMiB, cpus int, cmdline string) []string {
	cpu := "max"
	if accel == AccelKVM {
		cpu = "host"
	}
	args := []string{
		"-M", "microvm,x-option-roms=off,rtc=on,isa-serial=on,acpi=on,pcie=off",
		"-accel", accel, "-cpu", cpu,
		"-m", strconv.Itoa(memMiB), "-smp", strconv.Itoa(cpus),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-serial", "stdio",
		"-kernel", img.Kernel, "-append", cmdline,
		"-drive", "id=root,file=" + strings.ReplaceAll(img.RootDisk, ",", ",,") + ",format=raw,if=none,readonly=on",
		"-device", "virtio-blk-device,drive=root",
	}
	if img.Initrd != "" {
		args = append(args, "-initrd", img.Initrd)
	}
	return args
}

// BootCheck boots img under QEMU with the given accelerator, with /bin/sh
// printing a marker as the guest's init, and reports whether (and how fast)
// user space was reached within timeout. A guest that does not get there, or
// a QEMU that refuses the accelerator, is a result (OK false, the reason in
// Console), not an error; errors are for QEMU failing to start. This is how
// hookci tells a KVM that really runs guests from one that does not (nested
// PVM).
func BootCheck(ctx context.Context, qemu string, img *Image, accel string, timeout time.Duration) (BootResult, error) {
	res := BootResult{Accel: accel}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmdline := img.Cmdline
	if accel == AccelTCG {
		cmdline += " " + TCGCmdline()
	}
	cmdline += ` init=/bin/sh -- -c "mount -t proc proc /proc; read up idle </proc/uptime; echo ` + bootMarker + ` $(uname -r) $up"`
	cmd := exec.CommandContext(ctx, qemu, QEMUArgs(img, accel, 256, 1, cmdline)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return res, err
	}
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("start %s: %w", qemu, err)
	}
	var tail []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		tail = append(tail, line)
		if len(tail) > 30 {
			tail = tail[1:]
		}
		if rest, ok := strings.CutPrefix(line, bootMarker); ok && !res.OK {
			res.OK, res.Elapsed = true, time.Since(start)
			res.Uname, res.Uptime, _ = strings.Cut(strings.TrimSpace(rest), " ")
			cancel() // the guest proved itself; don't wait for its panic and reboot
		}
		if strings.HasPrefix(line, "KVM internal error") {
			cancel() // QEMU pauses the guest and waits forever: the verdict is in
		}
	}
	io.Copy(io.Discard, out)
	cmd.Wait() // killed by cancel, or exited after the guest's init ended
	res.Console = strings.Join(tail, "\n")
	return res, nil
}
