package github

import (
	"context"
	"errors"
	"fmt"
	"time"

	gh "github.com/google/go-github/v93/github"
)

// checkRunPatch is the PATCH body. go-github's UpdateCheckRunOptions always sends "name",
// which would rename the run; this one sends only what changes.
type checkRunPatch struct {
	Status      *string       `json:"status,omitempty"`
	Conclusion  *string       `json:"conclusion,omitempty"`
	CompletedAt *gh.Timestamp `json:"completed_at,omitempty"`
	DetailsURL  *string       `json:"details_url,omitempty"`
	Output      *outputPatch  `json:"output,omitempty"`
}

type outputPatch struct {
	Title       string            `json:"title"`
	Summary     string            `json:"summary"`
	Text        string            `json:"text,omitempty"`
	Annotations []annotationPatch `json:"annotations,omitempty"`
}

type annotationPatch struct {
	Path            string `json:"path"`
	StartLine       int    `json:"start_line"`
	EndLine         int    `json:"end_line"`
	StartColumn     int    `json:"start_column,omitempty"`
	EndColumn       int    `json:"end_column,omitempty"`
	AnnotationLevel string `json:"annotation_level"`
	Message         string `json:"message"`
	Title           string `json:"title,omitempty"`
	RawDetails      string `json:"raw_details,omitempty"`
}

// UpdateCheckRun changes check run id (App mode only). Annotations go MaxAnnotationsPerCall per
// PATCH (GitHub's limit); the earlier batches carry only the output, the last one carries the
// status and conclusion too, so the run completes with all its annotations in place.
func (c *Client) UpdateCheckRun(ctx context.Context, repo Repo, id int64, u CheckRunUpdate) error {
	patches, err := c.checkRunPatches(u)
	if err != nil {
		return fmt.Errorf("github: update check run %d: %w", id, err)
	}
	ctx, err = c.RepoContext(ctx, repo)
	if err != nil {
		return err
	}
	u2 := fmt.Sprintf("repos/%s/%s/check-runs/%d", repo.Owner, repo.Name, id)
	for i, p := range patches {
		req, err := c.gh.NewRequest(ctx, "PATCH", u2, p)
		if err != nil {
			return fmt.Errorf("github: update check run %d: %w", id, err)
		}
		if _, err := c.gh.Do(req, nil); err != nil {
			return fmt.Errorf("github: update check run %d on %s (request %d of %d): %w", id, repo.FullName(), i+1, len(patches), err)
		}
	}
	return nil
}

func (c *Client) checkRunPatches(u CheckRunUpdate) ([]checkRunPatch, error) {
	if !c.IsApp() {
		return nil, ErrAppRequired
	}
	final, err := c.finalPatch(u)
	if err != nil {
		return nil, err
	}
	if u.Output == nil {
		return []checkRunPatch{final}, nil
	}
	anns, err := annotations(u.Output.Annotations)
	if err != nil {
		return nil, err
	}
	out := outputPatch{
		Title:   truncateRunes(u.Output.Title, 1000, "…"),
		Summary: truncateBytes(u.Output.Summary, MaxCheckText, truncatedNote),
		Text:    truncateBytes(u.Output.Text, MaxCheckText, truncatedNote),
	}
	if out.Title == "" {
		out.Title = "hookci" // GitHub requires a title with any output
	}
	var patches []checkRunPatch
	for len(anns) > MaxAnnotationsPerCall {
		o := out
		o.Annotations, anns = anns[:MaxAnnotationsPerCall], anns[MaxAnnotationsPerCall:]
		patches = append(patches, checkRunPatch{Output: &o})
	}
	out.Annotations = anns
	final.Output = &out
	return append(patches, final), nil
}

// finalPatch validates and converts the status part of u.
func (c *Client) finalPatch(u CheckRunUpdate) (checkRunPatch, error) {
	var p checkRunPatch
	status := u.Status
	if u.Conclusion != "" {
		if !oneOf(u.Conclusion, ConclusionSuccess, ConclusionFailure, ConclusionNeutral, ConclusionCancelled,
			ConclusionSkipped, ConclusionTimedOut, ConclusionActionRequired) {
			return p, fmt.Errorf("invalid conclusion %q", u.Conclusion)
		}
		if status != "" && status != CheckCompleted {
			return p, fmt.Errorf("conclusion %q with status %q (want completed)", u.Conclusion, status)
		}
		status = CheckCompleted
		at := u.CompletedAt
		if at.IsZero() {
			at = c.now()
		}
		p.Conclusion = &u.Conclusion
		p.CompletedAt = &gh.Timestamp{Time: at.UTC().Truncate(time.Second)}
	}
	switch status {
	case "", CheckQueued, CheckInProgress:
	case CheckCompleted:
		if u.Conclusion == "" {
			return p, errors.New("status completed needs a conclusion")
		}
	default:
		return p, fmt.Errorf("invalid status %q", status)
	}
	p.Status = optional(status)
	p.DetailsURL = optional(u.DetailsURL)
	return p, nil
}

// annotations validates and converts; it fixes what GitHub would refuse but a caller cannot
// know (columns across lines, oversized messages).
func annotations(in []Annotation) ([]annotationPatch, error) {
	out := make([]annotationPatch, 0, len(in))
	for i, a := range in {
		end := a.EndLine
		if end == 0 {
			end = a.StartLine
		}
		switch {
		case a.Path == "":
			return nil, fmt.Errorf("annotation %d: empty path", i)
		case a.StartLine < 1 || end < a.StartLine:
			return nil, fmt.Errorf("annotation %d (%s): invalid lines %d-%d", i, a.Path, a.StartLine, end)
		case !oneOf(a.Level, LevelNotice, LevelWarning, LevelFailure):
			return nil, fmt.Errorf("annotation %d (%s): invalid level %q", i, a.Path, a.Level)
		case a.Message == "":
			return nil, fmt.Errorf("annotation %d (%s): empty message", i, a.Path)
		}
		p := annotationPatch{
			Path: a.Path, StartLine: a.StartLine, EndLine: end, AnnotationLevel: a.Level,
			Message:    truncateBytes(a.Message, maxAnnotationMessage, "…"),
			Title:      truncateRunes(a.Title, maxAnnotationTitle, "…"),
			RawDetails: truncateBytes(a.RawDetails, maxAnnotationMessage, "…"),
		}
		if a.StartLine == end && a.StartColumn > 0 {
			p.StartColumn, p.EndColumn = a.StartColumn, max(a.EndColumn, a.StartColumn)
		}
		out = append(out, p)
	}
	return out, nil
}

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}
