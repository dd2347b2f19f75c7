package main

import (
	"context"
	"log/slog"
	"strings"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/oci"
	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/workflow"
)

// imageSource opens the image store on the data directory with the
// [registries] configuration and adapts it to the runner (services,
// container:, docker:// steps and Docker actions).
func imageSource(cfg config.Config, log *slog.Logger) (runner.ImageSource, error) {
	st, err := oci.Open(cfg.DataDir, cfg.Registries, oci.WithLogger(log))
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, ref string, creds *workflow.Credentials) (*runner.Image, error) {
		var c *oci.Credentials
		if creds != nil {
			c = &oci.Credentials{Username: creds.Username, Password: creds.Password}
		}
		img, err := st.Pull(ctx, ref, c)
		if err != nil {
			return nil, err
		}
		os, arch, _ := strings.Cut(img.Platform, "/")
		arch, _, _ = strings.Cut(arch, "/") // variant
		out := &runner.Image{Ref: img.Ref, Digest: img.Digest, RootFS: img.RootFS, OS: os, Arch: arch,
			Env: img.Config.Env, User: img.Config.User, WorkingDir: img.Config.WorkingDir,
			Entrypoint: img.Config.Entrypoint, Cmd: img.Config.Cmd, Volumes: img.Config.Volumes, Disk: img.Ext4}
		if h := img.Config.Healthcheck; h != nil {
			out.Healthcheck = &runner.Healthcheck{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
				StartPeriod: h.StartPeriod, Retries: h.Retries}
		}
		return out, nil
	}, nil
}
