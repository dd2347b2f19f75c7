package main

import (
	"log/slog"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/oci"
	"github.com/hookci/hookci/internal/runner"
)

// imageSource opens the image store on the data directory with the
// [registries] configuration and adapts it to the runner (services,
// container:, docker:// steps and Docker actions; the builder of
// Dockerfile actions' images).
func imageSource(cfg config.Config, log *slog.Logger) (runner.ImageSource, runner.ImageBuilder, error) {
	st, err := oci.Open(cfg.DataDir, cfg.Registries, oci.WithLogger(log))
	if err != nil {
		return nil, nil, err
	}
	images, builds := runner.OCIImages(st)
	return images, builds, nil
}
