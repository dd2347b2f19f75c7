// Package actions runs `uses:` steps: resolution of local, remote and
// docker:// actions, composite and JavaScript actions, and the built-ins
// that need no network (checkout, cache, artifacts, setup-*).
package actions

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/workflow"
)

// Config wires the action runner.
type Config struct {
	// Git fetches remote actions (and other repositories for checkout).
	Git *gitrepo.Cache
	// DataDir is where actions, caches and artifacts are kept.
	DataDir string
	// ToolCache is the host directory of tools for setup-* (shown read-only to sandboxes).
	ToolCache string
	Logger    *slog.Logger
}

// Runner runs actions; it implements runner.ActionRunner.
type Runner struct {
	cfg Config
}

// New returns a Runner.
func New(cfg Config) (*Runner, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{cfg: cfg}, nil
}

// RunAction runs one uses: step.
func (r *Runner) RunAction(ctx context.Context, j *runner.JobContext, step *workflow.Step, with, env map[string]string) (runner.StepOutcome, error) {
	return runner.StepOutcome{}, fmt.Errorf("action %q cannot run here yet", step.Uses)
}
