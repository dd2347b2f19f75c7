package githubtest

import (
	"net/http"
	"strconv"
	"unicode/utf8"
)

const maxCommentBody = 65536

type commentBody struct {
	Body *string `json:"body"`
}

func (s *Server) commentJSON(r *http.Request, repo *repoState, c *Comment) map[string]any {
	return map[string]any{
		"id": c.ID, "body": c.Body, "user": map[string]any{"login": "hookci[bot]", "type": "Bot"},
		"html_url": "https://github.example/" + repo.fullName() + "/pull/" + strconv.Itoa(c.Number) +
			"#issuecomment-" + strconv.FormatInt(c.ID, 10),
		"url": "http://" + r.Host + "/repos/" + repo.fullName() + "/issues/comments/" + strconv.FormatInt(c.ID, 10),
	}
}

// validComment checks a comment body like GitHub; it reports whether the handler goes on.
func validComment(w http.ResponseWriter, b commentBody) bool {
	switch {
	case b.Body == nil || *b.Body == "":
		invalid(w, "IssueComment", "body", "missing_field", "")
		return false
	case utf8.RuneCountInString(*b.Body) > maxCommentBody:
		invalid(w, "IssueComment", "body", "custom", "body is too long (maximum is 65536 characters)")
		return false
	}
	return true
}

// issue returns the issue number of the path, answering 404 if the repository has none.
func issue(w http.ResponseWriter, r *http.Request, repo *repoState) (int, bool) {
	n, ok := pathInt(w, r, "number")
	if ok && !repo.hasIssue(int(n)) {
		writeError(w, http.StatusNotFound, "Not Found")
		return 0, false
	}
	return int(n), ok
}

// GET /repos/{owner}/{repo}/issues/{number}/comments
func (s *Server) handleListComments(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	n, ok := issue(w, r, repo)
	if !ok {
		return
	}
	var all []*Comment
	for _, c := range repo.comments {
		if c.Number == n {
			all = append(all, c)
		}
	}
	out := []map[string]any{}
	for _, c := range paginate(w, r, all) {
		out = append(out, s.commentJSON(r, repo, c))
	}
	writeJSON(w, http.StatusOK, out)
}

// POST /repos/{owner}/{repo}/issues/{number}/comments
func (s *Server) handleCreateComment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	n, ok := issue(w, r, repo)
	if !ok {
		return
	}
	var b commentBody
	if !decodeBody(w, r, &b) || !validComment(w, b) {
		return
	}
	c := &Comment{ID: s.newID(), Number: n, Body: *b.Body}
	repo.comments = append(repo.comments, c)
	writeJSON(w, http.StatusCreated, s.commentJSON(r, repo, c))
}

// PATCH /repos/{owner}/{repo}/issues/comments/{id}
func (s *Server) handleEditComment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	id, ok := pathInt(w, r, "id")
	if !ok {
		return
	}
	var c *Comment
	for _, x := range repo.comments {
		if x.ID == id {
			c = x
		}
	}
	if c == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	var b commentBody
	if !decodeBody(w, r, &b) || !validComment(w, b) {
		return
	}
	c.Body = *b.Body
	c.Edits++
	writeJSON(w, http.StatusOK, s.commentJSON(r, repo, c))
}
