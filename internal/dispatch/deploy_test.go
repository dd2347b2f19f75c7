package dispatch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// TestDeploymentTagRef: a deployment whose ref is a bare tag name runs at
// refs/tags/<tag> (GITHUB_REF, github.ref_type tag), asked of the real git
// server; a branch name stays refs/heads/<branch>; a commit id gives no ref.
func TestDeploymentTagRef(t *testing.T) {
	e := newEnv(t)
	e.push(map[string]string{".github/workflows/deploy.yml": "name: Deploy\non: deployment\njobs:\n  d:\n    runs-on: ubuntu-latest\n" +
		"    steps:\n      - run: echo \"ref=[$GITHUB_REF] type=[$GITHUB_REF_TYPE] name=[$GITHUB_REF_NAME]\"\n"})
	e.runsByWorkflow(0)
	sha := e.repo.Head()
	e.repo.Push("HEAD:refs/tags/v1.0")
	cases := []struct{ id, ref, wantRef, wantLog string }{
		{"tag", "v1.0", "refs/tags/v1.0", "ref=[refs/tags/v1.0] type=[tag] name=[v1.0]"},
		{"branch", "main", "refs/heads/main", "ref=[refs/heads/main] type=[branch] name=[main]"},
		{"commit", sha, "", "ref=[]"},
	}
	for _, c := range cases {
		body := `{"action":"created","deployment":{"sha":"` + sha + `","ref":"` + c.ref + `","environment":"prod"},` +
			`"repository":{"full_name":"octo/hello","default_branch":"main"},"sender":{"login":"me"}}`
		if _, err := e.st.AddDelivery(context.Background(), store.Delivery{ID: c.id, Event: "deployment", Repo: "octo/hello",
			ReceivedAt: time.Now(), Payload: []byte(body), Status: store.DeliveryQueued}, true); err != nil {
			t.Fatal(err)
		}
		runs, jobs := e.wait(c.id)
		if len(runs) != 1 {
			t.Errorf("%s: got %d runs, want 1", c.id, len(runs))
			continue
		}
		if runs[0].Ref != c.wantRef {
			t.Errorf("%s: run ref = %q, want %q", c.id, runs[0].Ref, c.wantRef)
		}
		if l := e.log(jobs["d"].ID); !strings.Contains(l, c.wantLog) {
			t.Errorf("%s: job log lacks %q:\n%s", c.id, c.wantLog, l)
		}
	}
}
