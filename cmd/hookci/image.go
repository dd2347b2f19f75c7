package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/image"
)

// cmdImage implements "hookci image build|show": build (or find in the cache)
// the guest image under DATA_DIR/image and print where its files are. It
// returns 0 on success, 1 on failure, 2 for bad usage.
func cmdImage(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintln(stderr, "usage: hookci image build [--data-dir DIR] [--agent PATH] [--kernel minimal|debian] [--packages a,b] [--mirror URL] [--json]")
		fmt.Fprintln(stderr, "       hookci image show [--data-dir DIR] [--json]   (the image last built)")
		fmt.Fprintln(stderr, "       hookci image prune [--data-dir DIR] [--keep N]  (remove older images and unused layers)")
	}
	if len(args) == 0 {
		usage()
		return 2
	}
	fs := flag.NewFlagSet("image "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usage
	configFile := fs.String("config", "", "TOML config `file` (for data_dir and agent_path)")
	dataDir := fs.String("data-dir", "", "data `directory` (default: config data_dir / HOOKCI_DATA_DIR)")
	asJSON := fs.Bool("json", false, "print the image as JSON")
	agentPath := fs.String("agent", "", "static hookci-agent `binary` (default: config agent_path, else built from ./cmd/hookci-agent)")
	kernel := fs.String("kernel", string(image.DefaultRecipe().KernelKind), "guest kernel: minimal or debian")
	packages := fs.String("packages", "", "comma-separated Debian `packages` (default: the built-in list)")
	mirror := fs.String("mirror", "", "Debian archive `URL` (default: from /etc/apt/sources.list*)")
	keep := fs.Int("keep", 3, "prune: how many recent images to keep")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	cfg, err := config.Load(*configFile, os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "hookci image: %v\n", err)
		return 1
	}
	if *dataDir == "" {
		*dataDir = cfg.DataDir
	}
	var img *image.Image
	switch args[0] {
	case "prune":
		removed, err := image.Prune(ctx, *dataDir, *keep, stderr)
		for _, d := range removed {
			fmt.Fprintf(stdout, "removed %s\n", d)
		}
		if err != nil {
			fmt.Fprintf(stderr, "hookci image prune: %v\n", err)
			return 1
		}
		return 0
	case "show":
		img, err = image.Latest(*dataDir)
	case "build":
		r := image.DefaultRecipe()
		r.KernelKind, r.Mirror = image.KernelKind(*kernel), *mirror
		if *packages != "" {
			r.Packages = strings.Split(*packages, ",")
		}
		agent := *agentPath
		if agent == "" {
			agent = cfg.AgentPath
		}
		img, err = buildImage(ctx, *dataDir, r, agent, stderr)
	default:
		usage()
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "hookci image %s: %v\n", args[0], err)
		return 1
	}
	printImage(stdout, img, *asJSON)
	return 0
}

func buildImage(ctx context.Context, dataDir string, r image.Recipe, agentPath string, log io.Writer) (*image.Image, error) {
	if agentPath == "" {
		p, err := buildAgent(ctx, filepath.Join(dataDir, "image", "agent"), log)
		if err != nil {
			return nil, err
		}
		agentPath = p
	}
	r.AgentPath = agentPath
	start := time.Now()
	img, err := image.Build(ctx, dataDir, r, log)
	if err != nil {
		return nil, err
	}
	if err := image.SetCurrent(dataDir, img); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "hookci image: ready in %s\n", time.Since(start).Round(10*time.Millisecond))
	// Every new agent binary makes a new image (its root.ext4 is ~600 MB):
	// keep the last few only.
	removed, err := image.Prune(ctx, dataDir, 3, log)
	for _, d := range removed {
		fmt.Fprintf(log, "hookci image: pruned %s\n", d)
	}
	if err != nil {
		fmt.Fprintf(log, "hookci image: prune: %v\n", err)
	}
	return img, nil
}

// buildAgent compiles ./cmd/hookci-agent (CGO_ENABLED=0) of the hookci source
// tree containing the working directory into dir/hookci-agent.
func buildAgent(ctx context.Context, dir string, log io.Writer) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("no --agent given and %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "hookci-agent")
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid()) // never overwrite a running binary in place
	// Same flags as internal/agent/agenttest, so that tests find this image.
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, "./cmd/hookci-agent")
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, log, log
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("build hookci-agent: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	return out, nil
}

// moduleRoot finds the hookci source tree (go.mod of module
// github.com/hookci/hookci) at or above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/hookci/hookci\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("the working directory is not inside the hookci source tree (to build ./cmd/hookci-agent)")
		}
		dir = parent
	}
}

func printImage(w io.Writer, img *image.Image, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(img)
		return
	}
	fmt.Fprintf(w, "recipe hash  %s\n", img.RecipeHash)
	fmt.Fprintf(w, "dir          %s\n", img.Dir)
	fmt.Fprintf(w, "kernel       %s (%s)\n", img.Kernel, img.KernelKind)
	if img.Initrd != "" {
		fmt.Fprintf(w, "initrd       %s\n", img.Initrd)
	}
	fmt.Fprintf(w, "rootfs dir   %s\n", img.RootFSDir)
	fmt.Fprintf(w, "root disk    %s\n", img.RootDisk)
	fmt.Fprintf(w, "cmdline      %s\n", img.Cmdline)
	fmt.Fprintf(w, "built        %s\n", img.Built.Format(time.RFC3339))
}
