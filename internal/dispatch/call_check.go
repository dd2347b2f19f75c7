package dispatch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/workflow"
)

// errCallInvalid marks a call tree GitHub would refuse when the run starts
// (as opposed to a git failure, which planning retries).
var errCallInvalid = errors.New("invalid reusable workflow call")

// callInvalid is a refused call: its message is the reason alone.
type callInvalid struct{ err error }

func (e callInvalid) Error() string        { return e.err.Error() }
func (e callInvalid) Is(target error) bool { return target == errCallInvalid }

// checkCalls walks the tree of reusable workflows a triggered workflow
// calls, as GitHub does when the run starts: each reference parses, names a
// workflow with on.workflow_call, its with:/secrets: fit what it declares,
// no workflow calls itself through the chain, the depth stays within ten
// levels and the tree within 50 unique workflows. A refusal wraps
// errCallInvalid; any other error is a fetch failure (retried).
func (d *Dispatcher) checkCalls(ctx context.Context, run *store.Run, wf *workflow.Workflow, ev *event) error {
	top := d.topScope(run, wf, ev)
	unique := map[string]bool{}
	return d.checkScope(ctx, run, top, unique)
}

func (d *Dispatcher) checkScope(ctx context.Context, run *store.Run, sc *callScope, unique map[string]bool) error {
	for _, j := range sc.wf.Jobs {
		if j.Uses == "" {
			continue
		}
		ref, err := workflow.ParseCallRef(j.Uses)
		if err != nil {
			return callInvalid{fmt.Errorf("%s:%d:%d: %w", sc.file, j.UsesPos.Line, j.UsesPos.Col, err)}
		}
		invalid := func(err error) error {
			return callInvalid{callError(sc.file, ref, err)}
		}
		repo, sha, err := d.resolveCall(ctx, run, sc, ref)
		var denied accessDenied
		if errors.As(err, &denied) {
			return invalid(fmt.Errorf("failed to fetch workflow: %w", denied))
		}
		if err != nil {
			if strings.Contains(err.Error(), " has no refs/") {
				return invalid(fmt.Errorf("failed to fetch workflow: reference to workflow should be either a valid branch, tag, or commit"))
			}
			if !ref.Local && !strings.EqualFold(ref.Repo, run.Repo) {
				// Another repository is read without any credential: one the
				// server refuses is not found, as on GitHub; only a network
				// failure is worth retrying.
				if aerr := d.cfg.Git.CheckAccess(ctx, ref.Repo, ""); aerr != nil && !networkError(aerr) {
					return invalid(fmt.Errorf("failed to fetch workflow: %w", aerr))
				}
			}
			return err
		}
		id := strings.ToLower(repo + ":" + ref.Path)
		for _, c := range sc.chain {
			if strings.EqualFold(c, id) {
				return invalid(fmt.Errorf("job %q calls %s, which is already being called (a cycle of reusable workflows)", j.ID, ref.Path))
			}
		}
		if sc.depth+1 > workflow.MaxCallDepth {
			return invalid(fmt.Errorf("job %q calls workflow %q, but doing so would exceed the limit on called workflow depth of %d",
				j.ID, ref.String(), workflow.MaxCallDepth))
		}
		unique[id+"@"+sha] = true
		if len(unique) > workflow.MaxCalledWorkflows {
			return invalid(fmt.Errorf("job %q calls workflow %q, but doing so would exceed the limit on called workflows of %d",
				j.ID, ref.String(), workflow.MaxCalledWorkflows))
		}
		called, err := d.calledWorkflow(ctx, run, sc.ev.Fork, repo, sha, ref.Path)
		if err != nil {
			var le *workflow.LoadError
			if errors.As(err, &le) {
				return invalid(err)
			}
			if errors.Is(err, os.ErrNotExist) {
				return invalid(fmt.Errorf("failed to fetch workflow: workflow was not found"))
			}
			return err
		}
		if err := workflow.CheckCall(sc.file, j, called); err != nil {
			return invalid(err)
		}
		next := &callScope{wf: called, ev: sc.ev, repo: repo, sha: sha, file: ref.Path, depth: sc.depth + 1,
			chain: append(append([]string{}, sc.chain...), id)}
		if err := d.checkScope(ctx, run, next, unique); err != nil {
			return err
		}
	}
	return nil
}

// networkError reports whether a git failure looks like the network (worth
// retrying) rather than the server refusing the repository.
func networkError(err error) bool {
	msg := strings.ToLower(err.Error())
	for _, m := range []string{"could not resolve host", "connection refused", "failed to connect", "timed out",
		"connection reset", "temporary failure", "the remote end hung up", "http 5", "error: 5", "returned error: 5"} {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}
