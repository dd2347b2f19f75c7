package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/hookci/hookci/"

// rule forbids package pkg (and, with sub, every package under it) from
// depending on any of deny, directly or through others; denyDirect lists
// packages it may not import itself (for the standard library's I/O
// packages, which third-party dependencies may well use).
type rule struct {
	pkg        string
	sub        bool
	why        string
	deny       []string // module-relative ("internal/store") or full import paths
	denyDirect []string
}

var rules = []rule{
	{pkg: "cmd/hookci-agent", why: "the guest agent runs inside every sandbox and knows nothing of the server",
		deny: []string{"internal/store", "internal/github", "internal/web", "internal/webhook", "internal/runner",
			"internal/dispatch", "internal/report", "internal/actions", "internal/gitrepo", "internal/config", "modernc.org/sqlite"}},
	{pkg: "internal/agent", sub: true, why: "the protocol is shared by host and guest and depends on neither side's domain",
		deny: []string{"internal/store", "internal/github", "internal/web", "internal/webhook", "internal/runner",
			"internal/dispatch", "internal/report", "internal/actions", "internal/gitrepo", "internal/sandbox", "internal/config"}},
	{pkg: "internal/expr", why: "expressions are pure: no other hookci package", deny: []string{"internal/", "cmd/"}},
	{pkg: "internal/workflow", why: "workflow turns files' bytes into a model and evaluates it through expr; it does no I/O",
		deny:       []string{"internal/store", "internal/gitrepo", "internal/runner", "internal/dispatch", "internal/sandbox", "internal/agent", "internal/github", "internal/actions", "internal/web"},
		denyDirect: []string{"os", "os/exec", "net", "net/http", "database/sql", "io/fs"}},
	{pkg: "internal/store", why: "the store persists records; it knows no runner, GitHub or sandbox",
		deny: []string{"internal/runner", "internal/github", "internal/dispatch", "internal/actions", "internal/web",
			"internal/webhook", "internal/sandbox", "internal/report", "internal/gitrepo", "internal/agent"}},
	{pkg: "internal/webhook", why: "intake verifies and enqueues durably; planning happens elsewhere",
		deny: []string{"internal/dispatch", "internal/runner", "internal/gitrepo", "internal/github", "internal/sandbox",
			"internal/actions", "internal/report", "internal/web", "internal/workflow"}},
	{pkg: "internal/web", why: "the dashboard and API read the store; they run nothing",
		deny: []string{"internal/actions", "internal/runner", "internal/dispatch", "internal/sandbox", "internal/gitrepo",
			"internal/webhook", "internal/report", "internal/agent"}},
	{pkg: "internal/report", why: "reporting reads the store and talks to GitHub; it does not depend on how jobs ran",
		deny: []string{"internal/runner", "internal/dispatch", "internal/sandbox", "internal/actions", "internal/web", "internal/agent"}},
	{pkg: "internal/runner", why: "the runner drives an agent; storing and reporting results is the caller's (it uses the store's record types only)",
		deny: []string{"internal/github", "internal/web", "internal/webhook", "internal/dispatch", "internal/report"}},
	{pkg: "internal/sandbox", sub: true, why: "backends start agents; they know no jobs' records or GitHub",
		deny: []string{"internal/store", "internal/github", "internal/web", "internal/webhook", "internal/dispatch",
			"internal/runner", "internal/actions", "internal/report"}},
	{pkg: "internal/github", why: "the REST client knows nothing of hookci's records",
		deny: []string{"internal/store", "internal/runner", "internal/dispatch", "internal/sandbox", "internal/web", "internal/report"}},
}

type listed struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// TestPackageGraph lists every package of the module with `go list -deps`
// and fails on each forbidden arrow, naming the rule's reason.
func TestPackageGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports,Deps", mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []listed
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	checked := map[string]bool{}
	for _, p := range pkgs {
		rel := strings.TrimPrefix(p.ImportPath, mod)
		for _, r := range rules {
			if rel != r.pkg && !(r.sub && strings.HasPrefix(rel, r.pkg+"/")) {
				continue
			}
			checked[r.pkg] = true
			for _, d := range p.Deps {
				for _, deny := range r.deny {
					if matches(d, deny) && strings.TrimPrefix(d, mod) != rel {
						t.Errorf("%s depends on %s: %s", rel, strings.TrimPrefix(d, mod), r.why)
					}
				}
			}
			for _, d := range p.Imports {
				for _, deny := range r.denyDirect {
					if d == deny {
						t.Errorf("%s imports %s: %s", rel, d, r.why)
					}
				}
			}
		}
	}
	for _, r := range rules {
		if !checked[r.pkg] {
			t.Errorf("rule for %s matched no package: the graph changed; update the rule", r.pkg)
		}
	}
}

// matches reports whether import path dep is deny or lies under it; deny is
// module-relative when it starts with internal/ or cmd/.
func matches(dep, deny string) bool {
	if strings.HasPrefix(deny, "internal/") || strings.HasPrefix(deny, "cmd/") {
		deny = mod + deny
	}
	deny = strings.TrimSuffix(deny, "/")
	return dep == deny || strings.HasPrefix(dep, deny+"/")
}
