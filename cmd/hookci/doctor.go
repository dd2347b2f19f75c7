package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/image"
	"github.com/hookci/hookci/internal/mountinfo"
	"github.com/hookci/hookci/internal/sandbox/backends"
)

// doctorCheck is one line of "hookci doctor".
type doctorCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// doctorReport is the whole of "hookci doctor --json".
type doctorReport struct {
	Checks      []doctorCheck   `json:"checks"`
	Accelerator string          `json:"accelerator"` // kvm, tcg, or "" when no VM can boot
	Backends    map[string]bool `json:"backends"`    // sandbox backend -> usable here
	Usable      bool            `json:"usable"`      // an isolating backend (not host) is usable
}

// cmdDoctor implements "hookci doctor [--json] [--no-boot]": it reports what
// this host offers the sandbox backends (QEMU, KVM that really runs a guest,
// bubblewrap, cgroups, firecracker, vhost-vsock, the guest image) and exits 0
// if an isolating backend (namespace, microvm or firecracker) is usable.
func cmdDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "TOML config `file` (for data_dir)")
	dataDir := fs.String("data-dir", "", "data `directory` (default: config data_dir / HOOKCI_DATA_DIR)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	noBoot := fs.Bool("no-boot", false, "skip the VM boot tests (KVM, TCG)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*configFile, os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "hookci doctor: %v\n", err)
		return 1
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	rep := runDoctor(ctx, cfg, !*noBoot)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		printDoctor(stdout, rep)
	}
	if !rep.Usable {
		return 1
	}
	return 0
}

// runDoctor checks this host for cfg (its data directory, image and agent);
// boot also boots a guest and starts a namespace sandbox, as serve's "auto" would.
func runDoctor(ctx context.Context, cfg config.Config, boot bool) doctorReport {
	dataDir := cfg.DataDir
	if cfg.ImageDir != "" {
		dataDir = cfg.ImageDir
	}
	var rep doctorReport
	add := func(name string, ok bool, detail string) {
		rep.Checks = append(rep.Checks, doctorCheck{Name: name, OK: ok, Detail: detail})
	}
	qemu, qemuVersion := lookTool("qemu-system-x86_64", "--version")
	add("qemu-system-x86_64", qemu != "", qemuVersion)
	_, kvmErr := os.Stat("/dev/kvm")
	add("/dev/kvm", kvmErr == nil, errDetail(kvmErr, "present"))
	img, imgErr := image.Latest(dataDir)
	if imgErr == nil {
		add("guest image", true, fmt.Sprintf("%s kernel, recipe %s, %s", img.KernelKind, img.RecipeHash[:16], img.Dir))
	} else {
		add("guest image", false, imgErr.Error())
	}
	kvmOK, tcgOK := false, false
	if boot && qemu != "" && img != nil {
		if kvmErr == nil {
			res, err := image.BootCheck(ctx, qemu, img, image.AccelKVM, 15*time.Second)
			kvmOK = err == nil && res.OK
			detail := bootDetail(res, err)
			if !kvmOK {
				detail += " (a nested or PVM /dev/kvm cannot run a stock guest: falling back to TCG)"
			}
			add("kvm boots a guest", kvmOK, detail)
		}
		if !kvmOK {
			res, err := image.BootCheck(ctx, qemu, img, image.AccelTCG, 60*time.Second)
			tcgOK = err == nil && res.OK
			add("tcg boots a guest", tcgOK, bootDetail(res, err))
		}
	} else {
		add("vm boot test", false, "skipped (needs qemu and a built image, and no --no-boot)")
	}
	switch {
	case kvmOK:
		rep.Accelerator = image.AccelKVM
	case tcgOK:
		rep.Accelerator = image.AccelTCG
	}
	bwrap, bwrapVersion := lookTool("bwrap", "--version")
	add("bwrap", bwrap != "", bwrapVersion)
	// The namespace sandbox needs no guest image (without one its root is
	// the host's /usr, /etc… read-only): bwrap is what it needs, and the
	// start probe below (skipped by --no-boot) says whether it works.
	nsOK := bwrap != ""
	if boot && bwrap != "" {
		// The probe serve's "auto" makes before it chooses namespace.
		err := backends.Probe(ctx, cfg, "namespace")
		nsOK = err == nil
		detail := "a bubblewrap sandbox with the agent started and stopped"
		if err != nil {
			detail = err.Error()
		}
		add("namespace sandbox starts", nsOK, detail)
	}
	cg, cgOK := cgroupSummary()
	add("cgroups", cgOK, cg)
	_, vsockErr := os.Stat("/dev/vhost-vsock")
	add("vhost-vsock", vsockErr == nil, errDetail(vsockErr, "present"))
	fc, fcVersion := lookTool("firecracker", "--version")
	add("firecracker", fc != "", fcVersion)
	db, dbVersion := lookTool("debootstrap", "--version")
	add("debootstrap", db != "", dbVersion)
	git, gitVersion := lookTool("git", "--version")
	add("git", git != "", gitVersion)
	// Egress (config egress) needs both; without them an egress job fails to start.
	slirp, slirpVersion := lookTool("slirp4netns", "--version")
	add("slirp4netns (egress)", slirp != "", slirpVersion)
	nft, nftVersion := lookTool("nft", "--version")
	add("nft (egress)", nft != "", nftVersion)
	// The namespace backend bundles the host's node for JavaScript actions
	// in job containers with it (package nodebundle); without it such a
	// step fails saying so.
	pe, peVersion := lookTool("patchelf", "--version")
	add("patchelf (JavaScript actions in job containers)", pe != "", peVersion)

	rep.Backends = map[string]bool{
		"host":        true,
		"namespace":   nsOK,
		"microvm":     rep.Accelerator != "",
		"firecracker": fc != "" && kvmOK,
	}
	rep.Usable = rep.Backends["namespace"] || rep.Backends["microvm"] || rep.Backends["firecracker"]
	return rep
}

// lookTool returns the tool's path and the first line of "tool versionFlag",
// or "" and "not found".
func lookTool(name, versionFlag string) (path, detail string) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", "not found"
	}
	out, _ := exec.Command(p, versionFlag).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if line == "" {
		line = p
	}
	return p, line
}

func bootDetail(res image.BootResult, err error) string {
	if err != nil {
		return err.Error()
	}
	if res.OK {
		return fmt.Sprintf("user space in %s (guest kernel %s)", res.Elapsed.Round(10*time.Millisecond), res.Uname)
	}
	return "no user space: " + bootFailureReason(res.Console)
}

// bootFailureReason picks the most telling console line of a failed boot.
func bootFailureReason(console string) string {
	lines := strings.Split(strings.TrimSpace(console), "\n")
	for _, l := range lines {
		for _, key := range []string{"KVM internal error", "emulation failure", "Could not access KVM", "failed to initialize kvm", "Kernel panic"} {
			if strings.Contains(l, key) {
				return strings.TrimSpace(l)
			}
		}
	}
	if last := strings.TrimSpace(lines[len(lines)-1]); last != "" {
		return "timed out; last console line: " + last
	}
	return "timed out, kernel printed nothing"
}

// cgroupSummary describes the mounted cgroup hierarchies of this host.
func cgroupSummary() (string, bool) {
	ms, err := mountinfo.Read()
	if err != nil {
		return err.Error(), false
	}
	return describeCgroups(ms, func(dir string) string {
		c, _ := os.ReadFile(dir + "/cgroup.controllers")
		return strings.TrimSpace(string(c))
	})
}

// describeCgroups summarises a mount table: "v2 at DIR: controllers"
// and/or "v1: controllers" (both on hybrid hosts). controllers reads a v2
// mount's cgroup.controllers.
func describeCgroups(mounts []mountinfo.Mount, controllers func(dir string) string) (string, bool) {
	var v1 []string
	v2 := ""
	for _, m := range mounts {
		switch m.FSType {
		case "cgroup2":
			v2 = "v2 at " + m.MountPoint + ": " + controllers(m.MountPoint)
		case "cgroup":
			for _, opt := range m.SuperOptions {
				switch opt {
				case "rw", "ro", "relatime", "nosuid", "nodev", "noexec", "clone_children":
				default:
					v1 = append(v1, opt)
				}
			}
		}
	}
	var parts []string
	if len(v1) > 0 {
		sort.Strings(v1)
		parts = append(parts, "v1: "+strings.Join(v1, " "))
	}
	if v2 != "" {
		parts = append(parts, v2)
	}
	if len(parts) == 0 {
		return "no cgroup hierarchy mounted", false
	}
	return strings.Join(parts, "; "), true
}

func errDetail(err error, ok string) string {
	if err != nil {
		return "absent"
	}
	return ok
}

func printDoctor(w io.Writer, rep doctorReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tDETAIL")
	for _, c := range rep.Checks {
		status := "ok"
		if !c.OK {
			status = "no"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, status, c.Detail)
	}
	tw.Flush()
	var names []string
	for b, ok := range rep.Backends {
		if ok {
			names = append(names, b)
		}
	}
	sort.Strings(names)
	accel := rep.Accelerator
	if accel == "" {
		accel = "none"
	}
	fmt.Fprintf(w, "\nVM accelerator: %s\nusable sandbox backends: %s\n", accel, strings.Join(names, ", "))
	if !rep.Usable {
		fmt.Fprintln(w, "no isolating backend is usable: install qemu-system-x86 or bubblewrap, then run `hookci image build`")
	}
}
