package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/workflow"
)

// routePayload is what routeEvent reads of the events beyond push, pull
// requests and workflow_dispatch.
type routePayload struct {
	Ref        string `json:"ref"`
	RefType    string `json:"ref_type"`
	Repository struct {
		FullName      string `json:"full_name"`
		DefaultBranch string `json:"default_branch"`
	} `json:"repository"`
	Release *struct {
		TagName string `json:"tag_name"`
		Draft   bool   `json:"draft"`
	} `json:"release"`
	Deployment *struct {
		SHA string `json:"sha"`
		Ref string `json:"ref"`
	} `json:"deployment"`
	DeploymentStatus *struct {
		State string `json:"state"`
	} `json:"deployment_status"`
	MergeGroup *struct {
		HeadSHA string `json:"head_sha"`
		HeadRef string `json:"head_ref"`
		BaseRef string `json:"base_ref"`
	} `json:"merge_group"`
	PullRequest *struct {
		Number int `json:"number"`
		Head   struct {
			SHA  string       `json:"sha"`
			Ref  string       `json:"ref"`
			Repo *payloadRepo `json:"repo"`
		} `json:"head"`
		Base struct {
			SHA string `json:"sha"`
			Ref string `json:"ref"`
		} `json:"base"`
	} `json:"pull_request"`
	CheckRun *struct {
		ExternalID string   `json:"external_id"`
		App        *appRef  `json:"app"`
		CheckSuite *suiteOf `json:"check_suite"`
	} `json:"check_run"`
	CheckSuite  *suiteOf        `json:"check_suite"`
	Context     string          `json:"context"` // status
	Schedule    string          `json:"schedule"`
	Workflow    json.RawMessage `json:"workflow"` // a path (schedule, workflow_dispatch) or an object (workflow_run)
	WorkflowRun *struct {
		Name       string `json:"name"`
		HeadBranch string `json:"head_branch"`
	} `json:"workflow_run"`
	RegistryPackage *struct {
		PackageVersion *struct {
			TargetCommitish string `json:"target_commitish"`
		} `json:"package_version"`
	} `json:"registry_package"`
}

type appRef struct {
	ID int64 `json:"id"`
}

type suiteOf struct {
	App *appRef `json:"app"`
}

// routeEvent fills in the ref and commit an event runs at, as GitHub's
// "Events that trigger workflows" gives them (GITHUB_REF, GITHUB_SHA), for
// every event but push, pull_request(_target) and workflow_dispatch. Most
// run the default branch's workflows at its last commit (SHA left empty:
// planning resolves the branch).
func routeEvent(name string, payload []byte, ev *event) error {
	var p routePayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	def := "refs/heads/" + p.Repository.DefaultBranch
	ev.Ref = def
	switch name {
	case "create":
		// The last commit of the created branch or tag.
		if p.RefType == "tag" {
			ev.Ref = "refs/tags/" + p.Ref
		} else {
			ev.Ref = "refs/heads/" + p.Ref
		}
	case "release":
		if p.Release == nil || p.Release.TagName == "" {
			return fmt.Errorf("release payload has no release tag")
		}
		ev.Ref = "refs/tags/" + p.Release.TagName
		if p.Release.Draft && (ev.Action == "created" || ev.Action == "edited" || ev.Action == "deleted") {
			ev.Skip = "a draft release's " + ev.Action + " triggers no workflow"
		}
	case "deployment", "deployment_status":
		if p.Deployment == nil || p.Deployment.SHA == "" {
			return fmt.Errorf("%s payload has no deployment commit", name)
		}
		// The commit to be deployed; the ref is empty when the deployment
		// names a commit rather than a branch or tag.
		ev.SHA, ev.Ref = p.Deployment.SHA, deploymentRef(p.Deployment.Ref, p.Deployment.SHA)
		if ev.Ref == "refs/heads/"+p.Deployment.Ref {
			ev.DeployName = p.Deployment.Ref
		}
		if name == "deployment_status" && p.DeploymentStatus != nil && p.DeploymentStatus.State == "inactive" {
			ev.Skip = "an inactive deployment status triggers no workflow"
		}
	case "merge_group":
		if p.MergeGroup == nil || p.MergeGroup.HeadSHA == "" {
			return fmt.Errorf("merge_group payload has no merge group")
		}
		ev.SHA, ev.Ref = p.MergeGroup.HeadSHA, p.MergeGroup.HeadRef
		ev.BaseRef = strings.TrimPrefix(p.MergeGroup.BaseRef, "refs/heads/")
	case "pull_request_review", "pull_request_review_comment":
		// As pull_request: the pull request's merge ref, here its head commit.
		if p.PullRequest == nil {
			return fmt.Errorf("%s payload has no pull_request", name)
		}
		pr := p.PullRequest
		ev.PR, ev.SHA, ev.Ref = pr.Number, pr.Head.SHA, "refs/pull/"+strconv.Itoa(pr.Number)+"/merge"
		ev.HeadRef, ev.BaseRef, ev.BaseSHA = pr.Head.Ref, pr.Base.Ref, pr.Base.SHA
		ev.Fork = pr.Head.Repo == nil || !strings.EqualFold(pr.Head.Repo.FullName, ev.Repo)
	case "registry_package":
		// The branch or tag of the published package, when it names one.
		if rp := p.RegistryPackage; rp != nil && rp.PackageVersion != nil && rp.PackageVersion.TargetCommitish != "" {
			ev.Ref = fullRef(rp.PackageVersion.TargetCommitish)
		}
	case "schedule":
		ev.Schedule = p.Schedule
		_ = json.Unmarshal(p.Workflow, &ev.Workflow)
	case "workflow_run":
		// The default branch's workflows; branch filters apply to the
		// branch the triggering run ran on.
		if p.WorkflowRun == nil {
			return fmt.Errorf("workflow_run payload has no workflow_run")
		}
		ev.WorkflowName = p.WorkflowRun.Name
		ev.FilterRef = "refs/heads/" + p.WorkflowRun.HeadBranch
	case "check_run":
		if p.CheckRun != nil {
			ev.CheckExternalID = p.CheckRun.ExternalID
			if p.CheckRun.App != nil {
				ev.CheckAppID = p.CheckRun.App.ID
			}
			if s := p.CheckRun.CheckSuite; s != nil && s.App != nil && ev.CheckAppID == 0 {
				ev.CheckAppID = s.App.ID
			}
		}
	case "check_suite":
		if p.CheckSuite != nil && p.CheckSuite.App != nil {
			ev.CheckAppID = p.CheckSuite.App.ID
		}
	case "status":
		// hookci's own commit statuses must not start workflows (GitHub
		// does not start workflows from its own runs' events either).
		if p.Context == ownStatusContext || strings.HasPrefix(p.Context, ownStatusContext+"/") {
			ev.Skip = "a status hookci posted itself triggers no workflow"
		}
	}
	return nil
}

// ownStatusContext is the context prefix of the statuses hookci posts.
const ownStatusContext = "hookci"

// deploymentRef is GITHUB_REF of a deployment as its payload tells it: a
// full ref as given, a bare name as a branch (planning makes it a tag when
// the repository has that tag: deploymentTagRef), or "" when it was created
// from a commit id.
func deploymentRef(ref, sha string) string {
	switch {
	case ref == "" || ref == sha || (len(ref) == 40 && strings.Trim(ref, "0123456789abcdef") == ""):
		return ""
	case strings.HasPrefix(ref, "refs/"):
		return ref
	}
	return "refs/heads/" + ref
}

// othersCheck reports whether a check event is known to be another App's
// (hookci runs as an App and the payload names a different one).
func (d *Dispatcher) othersCheck(ev *event) bool {
	return d.cfg.AppID != 0 && ev.CheckAppID != 0 && ev.CheckAppID != d.cfg.AppID
}

// ownCheckEvent reports whether a check_run or check_suite delivery is about
// hookci's own checks: those re-run jobs when rerequested, and never start
// workflows (as GitHub's own check suites do not).
func (d *Dispatcher) ownCheckEvent(ev *event) bool {
	if _, ok := jobFromExternalID(ev.CheckExternalID); ok {
		return true
	}
	return d.cfg.AppID != 0 && ev.CheckAppID == d.cfg.AppID
}

// workflowPathOf is a payload's "workflow" when it is a path (GitHub's
// workflow_dispatch names the workflow file; workflow_run has an object).
func workflowPathOf(payload []byte) string {
	var p struct {
		Workflow json.RawMessage `json:"workflow"`
	}
	var s string
	if json.Unmarshal(payload, &p) == nil {
		_ = json.Unmarshal(p.Workflow, &s)
	}
	return s
}

// matchEvent is what trigger matching sees of ev.
func matchEvent(ev *event, changed func() ([]string, error)) workflow.Event {
	we := workflow.Event{Name: ev.Name, Action: ev.Action, Ref: ev.Ref, BaseRef: ev.BaseRef, ChangedFiles: changed,
		Workflow: ev.WorkflowName, Schedule: ev.Schedule}
	if ev.Name == "workflow_run" {
		we.Ref = ev.FilterRef
	}
	return we
}

// ownChecks handles check_run and check_suite deliveries about hookci's own
// checks (done=true): rerequested re-runs (rerun.go), anything else is
// ignored. Other check events are planned like any event.
func (d *Dispatcher) ownChecks(ctx context.Context, del store.Delivery) (done bool, err error) {
	if del.Event != "check_run" && del.Event != "check_suite" {
		return false, nil
	}
	ev, err := decodeEvent(del.Event, del.Payload)
	if err != nil {
		return false, nil // planning reports it
	}
	switch {
	case del.Event == "check_suite" && ev.Action == "rerequested" && !d.othersCheck(ev):
		return true, d.rerequested(ctx, del)
	case d.ownCheckEvent(ev) && ev.Action == "rerequested":
		return true, d.rerequested(ctx, del)
	case d.ownCheckEvent(ev):
		return true, d.cfg.Store.Queries().SetDeliveryStatus(ctx, del.ID, store.DeliveryIgnored,
			del.Event+" "+ev.Action+" of hookci's own check triggers no workflow")
	}
	return false, nil
}

// MaxWorkflowFileBytes is GitHub's workflow file size limit: "A workflow file
// larger than 500 KB will not start runs."
const MaxWorkflowFileBytes = 500 << 10

// workflowSizeOK refuses a workflow file over MaxWorkflowFileBytes, as an
// invalid workflow (the run fails with the reason).
func workflowSizeOK(file string, src []byte) error {
	if len(src) <= MaxWorkflowFileBytes {
		return nil
	}
	return &workflow.LoadError{Problems: []workflow.Problem{{File: file, Line: 1, Col: 1, Kind: "limits",
		Message: fmt.Sprintf("workflow file is %d bytes: a workflow file larger than 500 KB will not start runs", len(src))}}}
}

// deploymentTagRef makes a deployment's bare ref name refs/tags/<name> when
// the repository has such a tag: GitHub's deployments take "a branch, tag,
// or SHA", and git resolves a bare name to a tag before a branch. A server
// that cannot be asked is an error (planning retries); a missing tag keeps
// the branch.
func (d *Dispatcher) deploymentTagRef(ctx context.Context, ev *event) error {
	if ev.DeployName == "" || ev.Ref != "refs/heads/"+ev.DeployName {
		return nil
	}
	tag := "refs/tags/" + ev.DeployName
	_, err := d.cfg.Git.ResolveRef(ctx, ev.Repo, tag)
	switch {
	case err == nil:
		ev.Ref = tag
	case strings.Contains(err.Error(), " has no "+tag) || strings.Contains(err.Error(), "invalid ref"):
	default:
		return fmt.Errorf("is deployment ref %q a tag: %w", ev.DeployName, err)
	}
	return nil
}
