package github

import (
	"context"
	"errors"
	"fmt"
	"time"

	gh "github.com/google/go-github/v93/github"
)

// Check run statuses.
const (
	CheckQueued     = "queued"
	CheckInProgress = "in_progress"
	CheckCompleted  = "completed"
)

// Check run conclusions.
const (
	ConclusionSuccess        = "success"
	ConclusionFailure        = "failure"
	ConclusionNeutral        = "neutral"
	ConclusionCancelled      = "cancelled"
	ConclusionSkipped        = "skipped"
	ConclusionTimedOut       = "timed_out"
	ConclusionActionRequired = "action_required"
)

// Annotation levels.
const (
	LevelNotice  = "notice"
	LevelWarning = "warning"
	LevelFailure = "failure"
)

// GitHub's check run limits.
const (
	MaxCheckText          = 65535 // output.summary and output.text, in characters
	MaxAnnotationsPerCall = 50
	maxAnnotationMessage  = 64 << 10
	maxAnnotationTitle    = 255
)

// CheckRun describes a check run to create.
type CheckRun struct {
	Name       string // shown in the pull request's checks list; required
	HeadSHA    string // the commit, 40 hex digits
	Status     string // CheckQueued (default) or CheckInProgress
	ExternalID string // hookci's id for the job: makes creation idempotent
	DetailsURL string
	StartedAt  time.Time // zero: not sent
}

// CheckRunUpdate changes a check run. Zero fields are left as they are.
type CheckRunUpdate struct {
	Status      string    // CheckInProgress or CheckCompleted; a Conclusion implies CheckCompleted
	Conclusion  string    // one of the Conclusion* constants
	CompletedAt time.Time // zero with a Conclusion: the client's Now
	DetailsURL  string
	Output      *CheckOutput
}

// CheckOutput is what the check run page shows. Summary and Text are truncated to
// MaxCheckText characters with a note.
type CheckOutput struct {
	Title       string
	Summary     string
	Text        string
	Annotations []Annotation // any number: sent MaxAnnotationsPerCall per request
}

// Annotation marks lines of a file in the pull request's diff. StartColumn and EndColumn are
// only sent when StartLine == EndLine, as GitHub requires.
type Annotation struct {
	Path        string // repository-relative
	StartLine   int
	EndLine     int    // 0 means StartLine
	StartColumn int    // optional
	EndColumn   int    // optional
	Level       string // LevelNotice, LevelWarning or LevelFailure
	Message     string
	Title       string // optional
	RawDetails  string // optional
}

// CreateCheckRun creates a check run (App mode only) and returns its id. When a check run with
// the same name and ExternalID already exists on HeadSHA (a retried or replayed job), that one's
// id is returned instead, so creation is idempotent.
func (c *Client) CreateCheckRun(ctx context.Context, repo Repo, cr CheckRun) (int64, error) {
	if err := c.checkCreate(cr); err != nil {
		return 0, err
	}
	ctx, err := c.RepoContext(ctx, repo)
	if err != nil {
		return 0, err
	}
	for attempt := 0; ; attempt++ {
		id, err := c.createCheckRun(ctx, repo, cr)
		if err == nil {
			return id, nil
		}
		if !ambiguous(ctx, err) || attempt >= c.maxRetries {
			return 0, fmt.Errorf("github: create check run %q on %s@%s: %w", cr.Name, repo.FullName(), shortSHA(cr.HeadSHA), err)
		}
		if err := c.sleep(ctx, backoff(attempt)); err != nil {
			return 0, fmt.Errorf("github: create check run %q: %w", cr.Name, err)
		}
	}
}

func (c *Client) checkCreate(cr CheckRun) error {
	switch {
	case !c.IsApp():
		return fmt.Errorf("github: create check run: %w", ErrAppRequired)
	case cr.Name == "":
		return errors.New("github: create check run: empty name")
	case cr.HeadSHA == "":
		return errors.New("github: create check run: empty head sha")
	case cr.Status != "" && cr.Status != CheckQueued && cr.Status != CheckInProgress:
		return fmt.Errorf("github: create check run: status %q (want queued or in_progress; complete it with UpdateCheckRun)", cr.Status)
	}
	return nil
}

func (c *Client) createCheckRun(ctx context.Context, repo Repo, cr CheckRun) (int64, error) {
	if cr.ExternalID != "" {
		id, err := c.findCheckRun(ctx, repo, cr)
		if err != nil || id != 0 {
			return id, err
		}
	}
	opts := gh.CreateCheckRunOptions{Name: cr.Name, HeadSHA: cr.HeadSHA}
	opts.Status = optional(cr.Status)
	opts.ExternalID = optional(cr.ExternalID)
	opts.DetailsURL = optional(cr.DetailsURL)
	if !cr.StartedAt.IsZero() {
		opts.StartedAt = &gh.Timestamp{Time: cr.StartedAt.UTC()}
	}
	run, _, err := c.gh.Checks.CreateCheckRun(withoutBlindRetry(ctx), repo.Owner, repo.Name, opts)
	if err != nil {
		return 0, err
	}
	return run.GetID(), nil
}

// findCheckRun returns the id of the check run named cr.Name with cr.ExternalID on cr.HeadSHA, or 0.
func (c *Client) findCheckRun(ctx context.Context, repo Repo, cr CheckRun) (int64, error) {
	opts := &gh.ListCheckRunsOptions{CheckName: new(cr.Name), Filter: new("all"),
		ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		res, resp, err := c.gh.Checks.ListCheckRunsForRef(ctx, repo.Owner, repo.Name, cr.HeadSHA, opts)
		if err != nil {
			return 0, err
		}
		for _, run := range res.CheckRuns {
			if run.GetExternalID() == cr.ExternalID && run.GetName() == cr.Name {
				return run.GetID(), nil
			}
		}
		if resp.NextPage == 0 {
			return 0, nil
		}
		opts.Page = resp.NextPage
	}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
