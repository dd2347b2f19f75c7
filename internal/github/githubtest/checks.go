package githubtest

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

const (
	maxCheckText     = 65535
	maxAnnotations   = 50
	maxAnnotationMsg = 64 << 10
)

type checkBody struct {
	Name        *string     `json:"name"`
	HeadSHA     *string     `json:"head_sha"`
	Status      *string     `json:"status"`
	Conclusion  *string     `json:"conclusion"`
	ExternalID  *string     `json:"external_id"`
	DetailsURL  *string     `json:"details_url"`
	StartedAt   *string     `json:"started_at"`
	CompletedAt *string     `json:"completed_at"`
	Output      *outputBody `json:"output"`
}

type outputBody struct {
	Title       *string          `json:"title"`
	Summary     *string          `json:"summary"`
	Text        *string          `json:"text"`
	Annotations []annotationBody `json:"annotations"`
}

type annotationBody struct {
	Path            *string `json:"path"`
	StartLine       *int    `json:"start_line"`
	EndLine         *int    `json:"end_line"`
	StartColumn     *int    `json:"start_column"`
	EndColumn       *int    `json:"end_column"`
	AnnotationLevel *string `json:"annotation_level"`
	Message         *string `json:"message"`
	Title           *string `json:"title"`
	RawDetails      *string `json:"raw_details"`
}

// verr is one validation failure: field, and GitHub's message.
type verr struct{ field, msg string }

func (b *checkBody) validate(create bool) *verr {
	switch {
	case create && (b.Name == nil || *b.Name == ""), !create && b.Name != nil && *b.Name == "":
		return &verr{"name", "name can't be blank"}
	case create && (b.HeadSHA == nil || !shaRE.MatchString(*b.HeadSHA)):
		return &verr{"head_sha", "head_sha must be a 40-character commit SHA"}
	case b.Status != nil && !oneOf(*b.Status, "queued", "in_progress", "completed", "waiting", "requested", "pending"):
		return &verr{"status", "status is not included in the list"}
	case b.Conclusion != nil && !oneOf(*b.Conclusion, "action_required", "cancelled", "failure", "neutral",
		"success", "skipped", "timed_out"):
		return &verr{"conclusion", "conclusion is not included in the list"}
	case b.Status != nil && *b.Status == "completed" && b.Conclusion == nil:
		return &verr{"conclusion", "conclusion is required when status is completed"}
	case b.StartedAt != nil && !isISO(*b.StartedAt):
		return &verr{"started_at", "started_at must be an ISO 8601 timestamp"}
	case b.CompletedAt != nil && !isISO(*b.CompletedAt):
		return &verr{"completed_at", "completed_at must be an ISO 8601 timestamp"}
	case b.Output != nil:
		return b.Output.validate()
	}
	return nil
}

func (o *outputBody) validate() *verr {
	switch {
	case o.Title == nil || *o.Title == "":
		return &verr{"output.title", "title can't be blank"}
	case o.Summary == nil || *o.Summary == "":
		return &verr{"output.summary", "summary can't be blank"}
	case utf8.RuneCountInString(*o.Summary) > maxCheckText:
		return &verr{"output.summary", "summary is too long (maximum is 65535 characters)"}
	case o.Text != nil && utf8.RuneCountInString(*o.Text) > maxCheckText:
		return &verr{"output.text", "text is too long (maximum is 65535 characters)"}
	case len(o.Annotations) > maxAnnotations:
		return &verr{"output.annotations", "annotations: at most 50 per request"}
	}
	for i, a := range o.Annotations {
		if e := a.validate(); e != nil {
			e.field = fmt.Sprintf("output.annotations[%d].%s", i, e.field)
			return e
		}
	}
	return nil
}

func (a *annotationBody) validate() *verr {
	switch {
	case a.Path == nil || *a.Path == "":
		return &verr{"path", "path can't be blank"}
	case a.StartLine == nil || *a.StartLine < 1:
		return &verr{"start_line", "start_line is required"}
	case a.EndLine == nil || *a.EndLine < *a.StartLine:
		return &verr{"end_line", "end_line is required and must not precede start_line"}
	case a.AnnotationLevel == nil || !oneOf(*a.AnnotationLevel, "notice", "warning", "failure"):
		return &verr{"annotation_level", "annotation_level is not included in the list"}
	case a.Message == nil || *a.Message == "":
		return &verr{"message", "message can't be blank"}
	case len(*a.Message) > maxAnnotationMsg:
		return &verr{"message", "message is too long"}
	case (a.StartColumn != nil || a.EndColumn != nil) && *a.StartLine != *a.EndLine:
		return &verr{"start_column", "start_column and end_column are only allowed when start_line equals end_line"}
	}
	return nil
}

func isISO(s string) bool {
	_, err := time.Parse(time.RFC3339, s)
	return err == nil
}

func parseTS(p *string) time.Time {
	if p == nil {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339, *p)
	return t
}

// apply merges a validated body into cr.
func (b *checkBody) apply(cr *CheckRun, now time.Time) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&cr.Name, b.Name)
	set(&cr.Status, b.Status)
	set(&cr.ExternalID, b.ExternalID)
	set(&cr.DetailsURL, b.DetailsURL)
	if b.StartedAt != nil {
		cr.StartedAt = parseTS(b.StartedAt)
	}
	if b.Conclusion != nil {
		cr.Conclusion, cr.Status = *b.Conclusion, "completed"
		cr.CompletedAt = now
		if b.CompletedAt != nil {
			cr.CompletedAt = parseTS(b.CompletedAt)
		}
	}
	if o := b.Output; o != nil {
		cr.Title, cr.Summary = *o.Title, *o.Summary
		set(&cr.Text, o.Text)
		for _, a := range o.Annotations {
			cr.Annotations = append(cr.Annotations, a.record())
		}
	}
}

func (a *annotationBody) record() Annotation {
	r := Annotation{Path: *a.Path, StartLine: *a.StartLine, EndLine: *a.EndLine, Level: *a.AnnotationLevel,
		Message: *a.Message, Title: deref(a.Title, ""), RawDetails: deref(a.RawDetails, "")}
	if a.StartColumn != nil {
		r.StartColumn = *a.StartColumn
	}
	if a.EndColumn != nil {
		r.EndColumn = *a.EndColumn
	}
	return r
}

func checkRunJSON(r *http.Request, repo *repoState, cr *CheckRun) map[string]any {
	id := strconv.FormatInt(cr.ID, 10)
	return map[string]any{
		"id": cr.ID, "name": cr.Name, "head_sha": cr.HeadSHA, "status": cr.Status,
		"conclusion": nilIfEmpty(cr.Conclusion), "external_id": cr.ExternalID, "details_url": nilIfEmpty(cr.DetailsURL),
		"started_at": ts(cr.StartedAt), "completed_at": ts(cr.CompletedAt),
		"url":      "http://" + r.Host + "/repos/" + repo.fullName() + "/check-runs/" + id,
		"html_url": "https://github.example/" + repo.fullName() + "/runs/" + id,
		"output": map[string]any{"title": nilIfEmpty(cr.Title), "summary": nilIfEmpty(cr.Summary),
			"text": nilIfEmpty(cr.Text), "annotations_count": len(cr.Annotations)},
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
