package githubtest

import (
	"slices"
	"time"
)

// RecordedRequest is one request the fake received, with the status it answered.
type RecordedRequest struct {
	Method string
	Path   string
	Query  string
	Status int
	// Body is what the client sent (for tests that check what GitHub was told).
	Body []byte
}

// Status is a recorded commit status.
type Status struct {
	ID          int64
	State       string
	Context     string
	Description string
	TargetURL   string
	CreatedAt   time.Time
}

// CheckRun is the current state of a check run, with every annotation it received.
type CheckRun struct {
	ID          int64
	Name        string
	HeadSHA     string
	Status      string
	Conclusion  string
	ExternalID  string
	DetailsURL  string
	StartedAt   time.Time
	CompletedAt time.Time
	Title       string
	Summary     string
	Text        string
	Annotations []Annotation
	Updates     int // accepted PATCH requests
}

// Annotation is one check run annotation.
type Annotation struct {
	Path        string
	StartLine   int
	EndLine     int
	StartColumn int
	EndColumn   int
	Level       string
	Message     string
	Title       string
	RawDetails  string
}

// Comment is the current state of an issue or pull-request comment.
type Comment struct {
	ID     int64
	Number int
	Body   string
	Edits  int // accepted PATCH requests
}

// PullRequest is a pull request the fake lists. HeadRepoFullName defaults to the repository
// itself (not a fork); State defaults to "open".
type PullRequest struct {
	Number           int
	Title            string
	State            string
	HeadSHA          string
	HeadRef          string
	BaseRef          string
	BaseSHA          string
	HeadRepoFullName string
}

type repoState struct {
	owner, name    string
	id             int64
	installationID int64
	statuses       map[string][]Status // by sha
	checkRuns      []*CheckRun
	comments       []*Comment
	branches       map[string]string // name → sha
	pulls          []PullRequest
	hooks          map[int64]bool
	visibility     string // public, private (default) or internal
	accessLevel    string // Actions access setting: none (default), user, organization, enterprise
}

func newRepoState(owner, name string, installationID, id int64) *repoState {
	return &repoState{
		owner: owner, name: name, id: id, installationID: installationID,
		statuses: map[string][]Status{}, branches: map[string]string{}, hooks: map[int64]bool{},
		visibility: "private", accessLevel: "none",
	}
}

func (r *repoState) fullName() string { return r.owner + "/" + r.name }

func (r *repoState) hasIssue(number int) bool {
	return slices.ContainsFunc(r.pulls, func(p PullRequest) bool { return p.Number == number })
}

// mustRepo returns repository full ("owner/name") or fails the test. The caller holds s.mu.
func (s *Server) mustRepo(full string) *repoState {
	r := s.repos[full]
	if r == nil {
		s.t.Fatalf("githubtest: unknown repository %q (AddRepo first)", full)
	}
	return r
}

// Statuses returns the statuses posted on sha of repository full ("owner/name"), in order.
func (s *Server) Statuses(full, sha string) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mustRepo(full).statuses[sha])
}

// CheckRuns returns the check runs of repository full, in creation order.
func (s *Server) CheckRuns(full string) []CheckRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []CheckRun
	for _, cr := range s.mustRepo(full).checkRuns {
		c := *cr
		c.Annotations = slices.Clone(cr.Annotations)
		out = append(out, c)
	}
	return out
}

// Comments returns the comments of issue or pull request number of repository full.
func (s *Server) Comments(full string, number int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Comment
	for _, c := range s.mustRepo(full).comments {
		if c.Number == number {
			out = append(out, *c)
		}
	}
	return out
}

// SetBranch sets (or creates) branch of repository full to sha.
func (s *Server) SetBranch(full, branch, sha string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustRepo(full).branches[branch] = sha
}

// AddPullRequest adds (or replaces, by number) a pull request of repository full. Comments can
// only be made on numbers added this way.
func (s *Server) AddPullRequest(full string, pr PullRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(full)
	if pr.State == "" {
		pr.State = "open"
	}
	if pr.HeadRepoFullName == "" {
		pr.HeadRepoFullName = full
	}
	r.pulls = slices.DeleteFunc(r.pulls, func(p PullRequest) bool { return p.Number == pr.Number })
	r.pulls = append(r.pulls, pr)
	slices.SortFunc(r.pulls, func(a, b PullRequest) int { return a.Number - b.Number })
}

// HookDelivery is a webhook delivery the fake lists. HookID 0 means the App's webhook.
type HookDelivery struct {
	ID          int64
	HookID      int64
	Repo        string // "owner/name" for a repository webhook
	GUID        string
	Event       string
	Action      string
	StatusCode  int
	DeliveredAt time.Time
	Redelivery  bool
	// Payload, when set, is the body a redelivery sends again to the webhook
	// URL given to SetAppWebhook (App hook), signed, with the same GUID.
	Payload []byte
}
