package actions

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/corpus"
)

// The act runner's test workflows that use local actions, run here with
// their own local actions. The corpus holds no JavaScript code, so the JS
// actions get tiny scripts written below (as act's own test code does, they
// fail where the action's name says they should).
var actJS = map[string]string{
	"ensure-post-steps/action-post/main.js":                      `console.log('main fail=' + process.env['INPUT_FAIL'])`,
	"ensure-post-steps/action-post/post.js":                      `console.log('post fail=' + process.env['INPUT_FAIL']); if (process.env['INPUT_FAIL'] === 'true') process.exit(1)`,
	"post-step-failure-is-job-failure/post-step-failure/main.js": `console.log('main ok')`,
	"post-step-failure-is-job-failure/post-step-failure/post.js": `console.log('post failing'); process.exit(1)`,
	"actions/node12/dist/index.js":                               helloJS,
	"actions/node16/dist/index.js":                               helloJS,
	"actions/node20/dist/index.js":                               strings.Replace(helloJS, "const fs = require('fs');", "import fs from 'fs';", 1), // an ES module there
}

const helloJS = `const fs = require('fs');
console.log('Hello ' + process.env['INPUT_WHO-TO-GREET'] + '!');
fs.appendFileSync(process.env.GITHUB_OUTPUT, 'time=' + new Date().toTimeString() + '\n');`

func TestActCorpus(t *testing.T) {
	dir := corpus.Dir(t, "nektos-act", "pkg", "runner", "testdata")
	tests := []struct {
		dir, file, job string
		want           string // conclusion
		logs           []string
		not            []string
	}{
		{"uses-composite", "push.yml", "test", "success", []string{"steps.composite.outputs.secret_output=NO SUCH SECRET/NO SUCH SECRET"}, nil},
		{"uses-composite-with-error", "push.yml", "failing-composite-action", "failure", []string{"should run"}, []string{"should not run"}},
		{"composite-fail-with-output", "push.yml", "test-for-output", "success", []string{"my-customoutput-green"}, nil},
		{"no-panic-on-invalid-composite-action", "push.yml", "local-invalid-step", "failure", []string{"a composite step needs 'run' or 'uses'"}, nil},
		{"no-panic-on-invalid-composite-action", "push.yml", "local-missing-steps", "failure", []string{"'runs.steps' is required"}, nil},
		// The remote rows cannot be fetched here (no network): they fail too, for that reason.
		{"no-panic-on-invalid-composite-action", "push.yml", "remote-invalid-step", "failure", []string{"Unable to resolve action `nektos/act-test-actions/invalid-composite-action/invalid-step@main`"}, nil},
		{"non-existent-action", "push.yml", "nopanic", "failure", []string{"Can't find 'action.yml'"}, nil},
		{"ensure-post-steps", "push.yml", "second-post-step-should-fail", "failure", []string{"post fail=true", "post fail=false"}, nil},
		{"post-step-failure-is-job-failure", "push.yml", "build", "failure", []string{"post failing"}, nil},
		{"local-action-js", "push.yml", "test-node12", "success", []string{"Hello Mona the Octocat!", "uses node12, which is no longer supported"}, nil},
		{"local-action-js", "push.yml", "test-node20", "success", []string{"Hello Mona the Octocat!"}, nil},
		{"mask-values", "push.yml", "test", "success", nil, []string{"secret value", "YWJjCg=="}},
		{"workflow_dispatch-scalar-composite-action", "workflow_dispatch.yml", "test", "success", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.dir+"/"+tt.job, func(t *testing.T) {
			if strings.Contains(tt.dir, "node") || tt.dir == "ensure-post-steps" || strings.HasPrefix(tt.dir, "post-step") || tt.dir == "local-action-js" {
				needNode(t)
			}
			e := newEnv(t, nil)
			if err := os.CopyFS(e.src, os.DirFS(dir)); err != nil {
				t.Fatal(err)
			}
			e.write(actJS)
			src, err := os.ReadFile(filepath.Join(dir, tt.dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			res, rec := e.run(string(src), tt.job, runOpts{})
			wantConclusion(t, res, rec, tt.want)
			wantLog(t, rec, tt.logs...)
			for _, n := range tt.not {
				if hasLine(rec, n) {
					t.Errorf("log has the line %q:\n%s", n, rec.all())
				}
			}
		})
	}
}
