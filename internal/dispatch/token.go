package dispatch

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/workflow"
)

// TokenRequest asks for one job's GITHUB_TOKEN.
type TokenRequest struct {
	Repo string // owner/name: the only repository the token may reach
	// Permissions maps GitHub App permission names (contents, pull_requests,
	// …) to read or write; metadata:read is implied.
	Permissions map[string]string
	// Fork: the job belongs to a pull request from a fork (Permissions are
	// then read-only already).
	Fork bool
}

// JobTokens mints and revokes the GITHUB_TOKEN of jobs.
type JobTokens interface {
	// Mint returns a token for one job ("" for none).
	Mint(ctx context.Context, req TokenRequest) (string, error)
	// Revoke ends a token Mint returned, when the job is over.
	Revoke(ctx context.Context, token string) error
}

// appPermission maps a workflow permissions: scope to its GitHub App
// permission name ("" for a scope an installation token cannot carry).
var appPermission = map[string]string{
	"actions":             "actions",
	"checks":              "checks",
	"contents":            "contents",
	"deployments":         "deployments",
	"discussions":         "discussions",
	"issues":              "issues",
	"packages":            "packages",
	"pages":               "pages",
	"pull-requests":       "pull_requests",
	"repository-projects": "repository_projects",
	"security-events":     "security_events",
	"statuses":            "statuses",
	"id-token":            "", // an OIDC token, not an App permission: hookci issues none
}

// restrictedDefault is GitHub's "restricted" default GITHUB_TOKEN for a
// workflow without permissions: (metadata:read is always added).
var restrictedDefault = map[string]string{"contents": "read", "packages": "read"}

// jobPermissions returns the App permissions of a job's token: the job's
// permissions:, else the workflow's, else the default (restricted, or write
// on every scope when permissive). A fork's writes become reads, as on
// GitHub. The notes say what was left out.
func jobPermissions(wf, job *workflow.Permissions, permissive, fork bool) (map[string]string, []string) {
	p := job
	if p == nil {
		p = wf
	}
	out := map[string]string{}
	var notes []string
	switch {
	case p == nil && permissive:
		out = allScopes("write")
	case p == nil:
		for k, v := range restrictedDefault {
			out[k] = v
		}
	case p.All == "read-all":
		out = allScopes("read")
	case p.All == "write-all":
		out = allScopes("write")
	case p.All == "{}" || p.All == "":
	default:
		notes = append(notes, "permissions: "+p.All+" is not read-all, write-all or {}: the token gets no permission")
	}
	if p != nil {
		for _, s := range p.Scopes {
			name, known := appPermission[strings.ToLower(s.Name)]
			level := strings.ToLower(strings.TrimSpace(s.Value))
			switch {
			case !known:
				notes = append(notes, "permissions: unknown scope "+s.Name+" ignored")
			case name == "":
				if level != "none" {
					notes = append(notes, "permissions: "+s.Name+" is not given by hookci (no OIDC tokens)")
				}
			case level == "read" || level == "write":
				out[name] = level
			case level == "none":
				delete(out, name)
			default:
				notes = append(notes, "permissions: "+s.Name+": "+s.Value+" is not read, write or none")
			}
		}
	}
	if fork {
		for k, v := range out {
			if v == "write" {
				out[k] = "read"
			}
		}
	}
	out["metadata"] = "read"
	return out, notes
}

func allScopes(level string) map[string]string {
	out := map[string]string{}
	for _, name := range appPermission {
		if name != "" {
			out[name] = level
		}
	}
	return out
}

// jobToken mints the job's token (nil Tokens: none).
func (d *Dispatcher) jobToken(ctx context.Context, in *jobInput) (string, []string, error) {
	if d.cfg.Tokens == nil {
		return "", nil, nil
	}
	perms, notes := jobPermissions(in.wf.Permissions, in.wj.Permissions, d.cfg.PermissiveDefault, in.ev.Fork)
	if in.ev.call != nil { // a called workflow can only reduce its caller's permissions (call.go)
		perms = in.ev.call.capPermissions(perms, in.wf.Permissions == nil && in.wj.Permissions == nil)
	}
	tok, err := d.cfg.Tokens.Mint(ctx, TokenRequest{Repo: in.run.Repo, Permissions: perms, Fork: in.ev.Fork})
	return tok, notes, err
}

// revokeToken revokes a job's token once the job is over, however it ended.
// A token that could not be revoked (GitHub unreachable, or hookci stopped
// before this ran) expires by itself within the hour GitHub gives it.
func (d *Dispatcher) revokeToken(ctx context.Context, tok string, log *slog.Logger) {
	if tok == "" || d.cfg.Tokens == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := d.cfg.Tokens.Revoke(ctx, tok); err != nil {
		log.Warn("revoking the job's GITHUB_TOKEN failed; it expires within the hour", "err", err)
	}
}
