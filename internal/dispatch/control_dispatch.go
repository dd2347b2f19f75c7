package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/workflow"
)

// MaxDispatchInputs is how many inputs a workflow_dispatch request may give
// (GitHub's limit, raised from 10 to 25 in 2025).
const MaxDispatchInputs = 25

// DispatchWorkflow starts a workflow_dispatch run of one workflow file
// (".github/workflows/<file>", or the file name alone) at ref (a branch or
// tag name, or a full ref): it validates inputs against the workflow's
// on.workflow_dispatch.inputs at that commit — an undeclared input, a
// missing required one or a value of the wrong type is refused (422, naming
// the input) — and stores a synthesized workflow_dispatch delivery, which is
// planned through the normal path like any webhook. It returns the
// delivery's id.
func (d *Dispatcher) DispatchWorkflow(ctx context.Context, repo, file, ref string, inputs map[string]any, actor string) (string, error) {
	if strings.TrimSpace(ref) == "" {
		return "", refused(422, "Invalid request.\n\n\"ref\" wasn't supplied.")
	}
	wfPath, ok := workflowPath(file)
	if !ok {
		return "", errNotFound
	}
	states, err := d.cfg.Store.Queries().WorkflowStates(ctx, repo)
	if err != nil {
		return "", err
	}
	if states[wfPath].Disabled() {
		return "", refused(422, "Cannot trigger a 'workflow_dispatch' on a disabled workflow")
	}
	fullRef, sha, err := d.resolveDispatchRef(ctx, repo, ref)
	if err != nil {
		return "", err
	}
	mirror, err := d.cfg.Git.Fetch(ctx, repo, sha)
	if err != nil {
		return "", fmt.Errorf("fetching %s at %.12s: %w", repo, sha, err)
	}
	wf, err := d.loadWorkflow(ctx, mirror, sha, wfPath)
	if errors.Is(err, os.ErrNotExist) {
		return "", errNotFound
	}
	if err != nil {
		return "", refused(422, "%s", invalidWorkflowMessage(err))
	}
	t := wf.Trigger("workflow_dispatch")
	if t == nil {
		return "", refused(422, "Workflow does not have 'workflow_dispatch' trigger")
	}
	canon, err := validateInputs(t.Inputs, inputs)
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(map[string]any{
		"ref": fullRef, "inputs": canon, "workflow": wfPath,
		"repository": map[string]any{"full_name": repo}, "sender": map[string]any{"login": actor},
	})
	if err != nil {
		return "", err
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	id := "dispatch-" + hex.EncodeToString(rnd[:])
	if _, err := d.cfg.Store.AddDelivery(ctx, store.Delivery{ID: id, Event: "workflow_dispatch", Repo: repo, SHA: sha,
		ReceivedAt: time.Now(), Payload: body, Status: store.DeliveryQueued}, true); err != nil {
		return "", err
	}
	d.log.Info("workflow dispatched", "repo", repo, "workflow", wfPath, "ref", fullRef, "delivery", id, "by", actor)
	return id, nil
}

// Workflows returns the workflow files of repo at ref (a branch, tag or full
// ref; "" for the default branch) by path, each parsed, nil for a file that
// does not load: what a "Run workflow" form needs (its dispatch inputs).
func (d *Dispatcher) Workflows(ctx context.Context, repo, ref string) (map[string]*workflow.Workflow, error) {
	var sha string
	var err error
	if ref == "" {
		if sha, err = d.cfg.Git.ResolveRef(ctx, repo, "HEAD"); err != nil {
			return nil, refused(404, "Not Found")
		}
	} else if _, sha, err = d.resolveDispatchRef(ctx, repo, ref); err != nil {
		return nil, err
	}
	mirror, err := d.cfg.Git.Fetch(ctx, repo, sha)
	if err != nil {
		return nil, fmt.Errorf("fetching %s at %.12s: %w", repo, sha, err)
	}
	files, err := mirror.ListFiles(ctx, sha, workflowsDir)
	if err != nil {
		return nil, err
	}
	out := map[string]*workflow.Workflow{}
	for _, f := range files {
		if !strings.HasSuffix(f, ".yml") && !strings.HasSuffix(f, ".yaml") {
			continue
		}
		wf, err := d.loadWorkflow(ctx, mirror, sha, f)
		if err != nil {
			wf = nil
		}
		out[f] = wf
	}
	return out, nil
}

// workflowPath is the repository path of a workflow named by its file name
// (GitHub's workflow_id may be the file name) or by its path.
func workflowPath(file string) (string, bool) {
	file = strings.TrimPrefix(file, workflowsDir+"/")
	if file == "" || strings.ContainsAny(file, "/\\") || file == "." || file == ".." ||
		!(strings.HasSuffix(file, ".yml") || strings.HasSuffix(file, ".yaml")) {
		return "", false
	}
	return path.Join(workflowsDir, file), true
}

// resolveDispatchRef resolves a branch, tag or full ref to its commit.
func (d *Dispatcher) resolveDispatchRef(ctx context.Context, repo, ref string) (string, string, error) {
	cands := []string{ref}
	if !strings.HasPrefix(ref, "refs/") {
		cands = []string{"refs/heads/" + ref, "refs/tags/" + ref}
	}
	var lastErr error
	for _, c := range cands {
		sha, err := d.cfg.Git.ResolveRef(ctx, repo, c)
		if err == nil {
			return c, sha, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), " has no ") && !strings.Contains(err.Error(), "invalid ref") {
			return "", "", fmt.Errorf("resolving %s: %w", c, err) // git or network: not the caller's fault
		}
	}
	d.log.Debug("dispatch: no such ref", "repo", repo, "ref", ref, "err", lastErr)
	return "", "", refused(422, "No ref found for: %s", ref)
}

// validateInputs checks given inputs against the declared ones and returns
// them in canonical form (strings; booleans as JSON booleans) with the
// defaults of those not given, as github.event.inputs holds them on GitHub.
// Messages are GitHub's where GitHub has one.
func validateInputs(decl []workflow.Input, given map[string]any) (map[string]any, error) {
	if len(given) > MaxDispatchInputs {
		return nil, refused(422, "you may only provide up to %d inputs, got %d", MaxDispatchInputs, len(given))
	}
	var unexpected []string
	for k := range given {
		if !slices.ContainsFunc(decl, func(in workflow.Input) bool { return strings.EqualFold(in.Name, k) }) {
			unexpected = append(unexpected, strconv.Quote(k))
		}
	}
	if len(unexpected) > 0 {
		slices.Sort(unexpected)
		return nil, refused(422, "Unexpected inputs provided: [%s]", strings.Join(unexpected, ", "))
	}
	out := map[string]any{}
	for _, in := range decl {
		raw, ok := lookupFold(given, in.Name)
		if !ok || raw == nil {
			switch {
			case in.HasDefault && in.Type == "boolean":
				out[in.Name] = in.Default == "true"
			case in.HasDefault:
				out[in.Name] = in.Default
			case in.Required:
				return nil, refused(422, "Required input '%s' not provided", in.Name)
			}
			continue
		}
		var s string
		switch v := raw.(type) {
		case string:
			s = v
		case bool:
			s = strconv.FormatBool(v)
		case float64:
			s = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			return nil, refused(422, "Provided value for input '%s' must be a string, number or boolean", in.Name)
		}
		if s == "" && in.Required {
			return nil, refused(422, "Required input '%s' not provided", in.Name)
		}
		switch in.Type {
		case "boolean":
			if s != "true" && s != "false" {
				return nil, refused(422, "Provided value '%s' for input '%s' not in the list of allowed values", s, in.Name)
			}
			out[in.Name] = s == "true"
			continue
		case "choice":
			if !slices.Contains(in.Options, s) {
				return nil, refused(422, "Provided value '%s' for input '%s' not in the list of allowed values", s, in.Name)
			}
		case "number":
			if _, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
				return nil, refused(422, "Provided value '%s' for input '%s' is not a valid number", s, in.Name)
			}
		}
		out[in.Name] = s
	}
	return out, nil
}

// WorkflowStates returns repo's disabled workflows' states by path (the web
// API's workflow state; a workflow not listed is active).
func (d *Dispatcher) WorkflowStates(ctx context.Context, repo string) (map[string]string, error) {
	st, err := d.cfg.Store.Queries().WorkflowStates(ctx, repo)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(st))
	for f, s := range st {
		if s.Disabled() {
			out[f] = s.State
		}
	}
	return out, nil
}

// SetWorkflowEnabled enables or disables (disabled_manually) a workflow file
// of repo's default branch. A disabled workflow runs on no event and its
// schedule's slots pass without runs; enabling one counts as activity for
// the 60-day inactivity rule, as GitHub's re-enable does.
func (d *Dispatcher) SetWorkflowEnabled(ctx context.Context, repo, file string, enabled bool, actor string) error {
	wfPath, ok := workflowPath(file)
	if !ok {
		return errNotFound
	}
	wfs, err := d.Workflows(ctx, repo, "")
	if err != nil {
		return err
	}
	if _, ok := wfs[wfPath]; !ok {
		return errNotFound
	}
	state := store.WorkflowDisabledManually
	if enabled {
		state = store.WorkflowActive
	}
	if err := d.cfg.Store.Queries().SetWorkflowState(ctx, repo, wfPath, state, d.clock()); err != nil {
		return err
	}
	d.log.Info("workflow state set", "repo", repo, "workflow", wfPath, "state", state, "by", actor)
	return nil
}
