package dispatch

import (
	"context"
	"fmt"
	"strings"

	"github.com/hookci/hookci/internal/store"
)

// RepoAccess is what GitHub says about sharing a repository's reusable
// workflows: its visibility (public, private, internal) and, when it is
// not public, its Actions "Access" setting (none, user, organization,
// enterprise).
type RepoAccess struct {
	Visibility  string
	AccessLevel string
}

// accessDenied is a reusable workflow of another repository that the run
// may not read under GitHub's access rules (a refusal, not retried).
type accessDenied struct{ msg string }

func (e accessDenied) Error() string        { return e.msg }
func (e accessDenied) Is(target error) bool { return target == errCallInvalid }

// readWithServerCredential decides how a reusable workflow in repo is read
// for run: the run's own repository with the server's credential (as
// planning reads it); any other repository first without a credential (a
// public one needs none); one that cannot be read so — private or internal
// — with the server's credential (the App installation token of that
// repository, or the configured token) only where GitHub would let run's
// workflow use it:
//
//   - not for a fork's pull request (it reads public repositories only);
//   - the caller's repository is private (a private workflow), or internal
//     or private (an internal one) — a public repository calls public
//     workflows only;
//   - the called repository's Actions access setting is not "none", and
//     both repositories have the same owner ("user" and "organization"
//     share within one owner; "enterprise" is taken as the same owner too,
//     as hookci cannot see enterprise membership).
//
// A refusal is an accessDenied naming the rule; a network failure is
// returned as is (planning retries it). Decisions are remembered per run.
func (d *Dispatcher) readWithServerCredential(ctx context.Context, run *store.Run, fork bool, repo string) (bool, error) {
	if strings.EqualFold(repo, run.Repo) {
		return true, nil
	}
	// Remembered per created run (planning, before the run exists, asks).
	key := strings.ToLower(fmt.Sprintf("%d:%s:%t:%s", run.ID, run.Repo, fork, repo))
	d.mu.Lock()
	own, ok := d.callAccess[key]
	d.mu.Unlock()
	if ok && run.ID != 0 {
		return own, nil
	}
	anonErr := d.cfg.Git.CheckAccess(ctx, repo, "")
	if anonErr != nil && networkError(anonErr) {
		return false, anonErr
	}
	own = anonErr != nil
	if own {
		if err := d.sharedWith(ctx, run, fork, repo, anonErr); err != nil {
			return false, err
		}
	}
	if run.ID != 0 {
		d.mu.Lock()
		if len(d.callAccess) > 10000 {
			clear(d.callAccess)
		}
		d.callAccess[key] = own
		d.mu.Unlock()
	}
	return own, nil
}

// sharedWith applies GitHub's access rules to a repository that cannot be
// read without a credential (anonErr says why).
func (d *Dispatcher) sharedWith(ctx context.Context, run *store.Run, fork bool, repo string, anonErr error) error {
	deny := func(format string, args ...any) error {
		return accessDenied{fmt.Sprintf("%s cannot be read without a credential, and ", repo) + fmt.Sprintf(format, args...)}
	}
	switch {
	case fork:
		return deny("a pull request from a fork reads public repositories only (%v)", anonErr)
	case d.cfg.RepoAccess == nil:
		return deny("hookci has no GitHub credential to read its Actions access setting (%v)", anonErr)
	}
	called, err := d.cfg.RepoAccess(ctx, repo)
	if err != nil {
		if networkError(err) {
			return err
		}
		return deny("GitHub does not show hookci its Actions access setting (reading it needs the App's Administration: read permission): %v", err)
	}
	caller, err := d.cfg.RepoAccess(ctx, run.Repo)
	if err != nil {
		if networkError(err) {
			return err
		}
		return deny("the visibility of %s cannot be read: %v", run.Repo, err)
	}
	callerOwner, _, _ := strings.Cut(run.Repo, "/")
	owner, _, _ := strings.Cut(repo, "/")
	switch {
	case called.Visibility == "public":
		return deny("GitHub says it is public: %v", anonErr)
	case caller.Visibility == "public":
		return deny("a workflow in a public repository (%s) can only use reusable workflows of public repositories", run.Repo)
	case called.Visibility == "private" && caller.Visibility != "private":
		return deny("a workflow in an %s repository (%s) cannot use a reusable workflow of a private repository", caller.Visibility, run.Repo)
	case called.AccessLevel == "" || called.AccessLevel == "none":
		return deny("its Actions access setting (%q) allows only its own workflows to use it", called.AccessLevel)
	case !strings.EqualFold(owner, callerOwner):
		return deny("its Actions access setting (%q) shares it only with repositories of %s, not %s", called.AccessLevel, owner, run.Repo)
	}
	return nil
}
