package dispatch

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/hookci/hookci/internal/store"
)

// event is what planning needs from a delivery's payload.
type event struct {
	Name    string
	Action  string
	Repo    string
	SHA     string // commit to run ("" = resolve Ref)
	Ref     string // full ref
	Before  string // push: previous head (zero for a new branch)
	BaseSHA string // pull requests
	HeadSHA string // pull requests: the head commit (for pull_request_target's diff)
	BaseRef string // pull requests: base branch name
	HeadRef string // pull requests: head branch name
	PR      int
	Fork    bool // pull request from another repository
	Actor   string
	// Commits' touched files, from a push payload (used when Before is unusable).
	PushFiles     []string
	Inputs        map[string]any // workflow_dispatch
	DefaultBranch string
	// Public is what the payload says of the repository's visibility (nil:
	// it says nothing, as hookci's own deliveries); the 60-day inactivity
	// rule for schedules holds only for public repositories.
	Public *bool
	// Set by routeEvent (events.go):
	Workflow        string // schedule, workflow_dispatch: the one workflow file to plan
	Schedule        string // schedule: the cron that fired
	WorkflowName    string // workflow_run: the name of the workflow that ran
	FilterRef       string // workflow_run: the triggering run's branch, for branch filters
	CheckExternalID string // check_run: the check run's external_id
	CheckAppID      int64  // check_run, check_suite: the App that made the check
	Skip            string // why this delivery triggers nothing ("" when it may)
	// DeployName is a deployment's bare ref name (a branch or a tag:
	// planning asks the server which, deploymentTagRef).
	DeployName string
	// Payload is the delivery's body: github.event in job-level if,
	// run-name, matrix and concurrency expressions.
	Payload []byte
	// call is the called workflow a job belongs to (nil: the run's own; call.go).
	call *callScope
}

type payloadRepo struct {
	FullName      string `json:"full_name"`
	DefaultBranch string `json:"default_branch"`
	Private       *bool  `json:"private"`
	Visibility    string `json:"visibility"`
}

type rawPayload struct {
	Action     string      `json:"action"`
	Ref        string      `json:"ref"`
	RefType    string      `json:"ref_type"`
	Before     string      `json:"before"`
	After      string      `json:"after"`
	Repository payloadRepo `json:"repository"`
	Sender     struct {
		Login string `json:"login"`
	} `json:"sender"`
	Commits []struct {
		Added    []string `json:"added"`
		Removed  []string `json:"removed"`
		Modified []string `json:"modified"`
	} `json:"commits"`
	Number      int `json:"number"`
	PullRequest *struct {
		Number int `json:"number"`
		Head   struct {
			SHA  string       `json:"sha"`
			Ref  string       `json:"ref"`
			Repo *payloadRepo `json:"repo"`
		} `json:"head"`
		Base struct {
			SHA  string       `json:"sha"`
			Ref  string       `json:"ref"`
			Repo *payloadRepo `json:"repo"`
		} `json:"base"`
	} `json:"pull_request"`
	Release *struct {
		TagName string `json:"tag_name"`
	} `json:"release"`
	Inputs map[string]any `json:"inputs"`
}

// decodeEvent extracts the planning facts of a delivery.
func decodeEvent(name string, payload []byte) (*event, error) {
	var p rawPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	ev := &event{Name: name, Action: p.Action, Repo: p.Repository.FullName, Actor: p.Sender.Login,
		DefaultBranch: p.Repository.DefaultBranch, Payload: payload}
	if v := p.Repository.Visibility; v != "" {
		public := v == "public"
		ev.Public = &public
	} else if p.Repository.Private != nil {
		public := !*p.Repository.Private
		ev.Public = &public
	}
	if ev.Repo == "" {
		return nil, errNoRepository
	}
	switch name {
	case "push":
		ev.SHA, ev.Ref, ev.Before = p.After, p.Ref, p.Before
		for _, c := range p.Commits {
			ev.PushFiles = append(ev.PushFiles, c.Added...)
			ev.PushFiles = append(ev.PushFiles, c.Removed...)
			ev.PushFiles = append(ev.PushFiles, c.Modified...)
		}
	case "pull_request", "pull_request_target":
		if p.PullRequest == nil {
			return nil, fmt.Errorf("%s payload has no pull_request", name)
		}
		pr := p.PullRequest
		ev.PR = pr.Number
		if ev.PR == 0 {
			ev.PR = p.Number
		}
		ev.HeadRef, ev.BaseRef, ev.BaseSHA, ev.HeadSHA = pr.Head.Ref, pr.Base.Ref, pr.Base.SHA, pr.Head.SHA
		// pull_request_target runs the base repository's code with its
		// secrets, as on GitHub; only pull_request from a fork is untrusted.
		ev.Fork = name == "pull_request" && (pr.Head.Repo == nil || !strings.EqualFold(pr.Head.Repo.FullName, ev.Repo))
		if name == "pull_request" {
			ev.SHA = pr.Head.SHA
			ev.Ref = "refs/pull/" + strconv.Itoa(ev.PR) + "/merge"
		} else {
			// pull_request_target runs the base branch's workflows at the
			// last commit of the base branch (GitHub's GITHUB_SHA), which
			// planning resolves: never the pull request's own files.
			ev.SHA = ""
			ev.Ref = "refs/heads/" + pr.Base.Ref
		}
	case "workflow_dispatch":
		ev.Ref = fullRef(p.Ref)
		ev.Inputs = p.Inputs
		ev.Workflow = workflowPathOf(payload)
	default: // every other event: events.go
		if err := routeEvent(name, payload, ev); err != nil {
			return nil, err
		}
	}
	if ev.SHA == "" && (ev.Ref == "" || ev.Ref == "refs/heads/") {
		return nil, fmt.Errorf("%s payload gives no ref to run", name)
	}
	return ev, nil
}

func fullRef(ref string) string {
	if ref == "" || strings.HasPrefix(ref, "refs/") {
		return ref
	}
	return "refs/heads/" + ref
}

// isZeroSHA reports a missing commit id (GitHub sends forty zeros).
func isZeroSHA(s string) bool { return strings.Trim(s, "0") == "" }

// runEvent is the event a run was planned for: a pull_request delivery also
// plans pull_request_target runs, whose jobs decode the payload as such.
func runEvent(run store.Run, del store.Delivery) string {
	if run.Event != "" {
		return run.Event
	}
	return del.Event
}
