package dispatch

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hookci/hookci/internal/workflow"
)

// TestJobPermissions: the token's App permissions follow GitHub's rules for
// permissions: (job over workflow, read-all/write-all/{}, the restricted or
// permissive default, forks read-only, id-token not given).
func TestJobPermissions(t *testing.T) {
	scopes := func(kv ...string) *workflow.Permissions {
		p := &workflow.Permissions{}
		for i := 0; i < len(kv); i += 2 {
			p.Scopes = append(p.Scopes, workflow.Var{Name: kv[i], Value: kv[i+1]})
		}
		return p
	}
	all := func(level string) map[string]string {
		m := allScopes(level)
		m["metadata"] = "read"
		return m
	}
	cases := []struct {
		name       string
		wf, job    *workflow.Permissions
		permissive bool
		fork       bool
		want       map[string]string
		notes      int
	}{
		{name: "restricted default", want: map[string]string{"contents": "read", "packages": "read", "metadata": "read"}},
		{name: "permissive default", permissive: true, want: all("write")},
		{name: "workflow read-all", wf: &workflow.Permissions{All: "read-all"}, want: all("read")},
		{name: "job write-all", job: &workflow.Permissions{All: "write-all"}, want: all("write")},
		{name: "empty", wf: &workflow.Permissions{All: "{}"}, want: map[string]string{"metadata": "read"}},
		{name: "job overrides workflow", wf: &workflow.Permissions{All: "write-all"}, job: scopes("contents", "read"),
			want: map[string]string{"contents": "read", "metadata": "read"}},
		{name: "scope names", wf: scopes("pull-requests", "write", "security-events", "read", "repository-projects", "write", "issues", "none"),
			want: map[string]string{"pull_requests": "write", "security_events": "read", "repository_projects": "write", "metadata": "read"}},
		{name: "id-token ignored", wf: scopes("id-token", "write", "statuses", "write"),
			want: map[string]string{"statuses": "write", "metadata": "read"}, notes: 1},
		{name: "unknown scope", wf: scopes("teleport", "write"), want: map[string]string{"metadata": "read"}, notes: 1},
		{name: "fork write-all is read-all", wf: &workflow.Permissions{All: "write-all"}, fork: true, want: all("read")},
		{name: "fork permissive default", permissive: true, fork: true, want: all("read")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, notes := jobPermissions(tc.wf, tc.job, tc.permissive, tc.fork)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("permissions (-want +got):\n%s", d)
			}
			if len(notes) != tc.notes {
				t.Errorf("notes: got %q, want %d", notes, tc.notes)
			}
		})
	}
}
