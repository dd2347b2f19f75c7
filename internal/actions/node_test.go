package actions

import (
	"os/exec"
	"strings"
	"testing"
)

func needNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed on this host (Debian package nodejs)")
	}
}

const nodeIndex = `const fs = require('fs');
const phase = process.argv[1].split('/').pop().replace('.js', '');
const name = process.env['INPUT_WHO_TO_GREET'];
console.log(phase + ': hello ' + name + ' action_path_ok=' + fs.existsSync(process.env.GITHUB_ACTION_PATH + '/action.yml'));
if (phase === 'pre' || phase === 'main') {
  fs.appendFileSync(process.env.GITHUB_STATE, phase + '_state=' + phase + '-' + name + '\n');
}
if (phase === 'main') {
  fs.appendFileSync(process.env.GITHUB_OUTPUT, 'time=noon\n');
  if (process.env['INPUT_FAIL'] === 'true') { console.log('main failing'); process.exit(2); }
}
if (phase === 'post') {
  console.log('post sees ' + process.env.STATE_pre_state + ' ' + process.env.STATE_main_state);
  if (process.env['INPUT_POST-FAIL'] === 'true') process.exit(5);
}
`

func nodeAction(using string) string {
	return `name: hello-` + using + `
inputs:
  who to greet:
    default: World
  fail:
    default: "false"
  post-fail:
    default: "false"
runs:
  using: ` + using + `
  pre: pre.js
  main: main.js
  post: post.js
  post-if: always()
`
}

func writeNodeAction(e *env, dir, using string) {
	e.write(map[string]string{dir + "/action.yml": nodeAction(using), dir + "/pre.js": nodeIndex,
		dir + "/main.js": nodeIndex, dir + "/post.js": nodeIndex})
}

func TestNodeActionPrePost(t *testing.T) {
	needNode(t)
	e := newEnv(t, nil)
	writeNodeAction(e, "a", "node20")
	writeNodeAction(e, "b", "node16")
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: a
        uses: ./a
        with:
          who to greet: Mona
      - uses: ./b
        with:
          who to greet: Lisa
      - run: echo "output ${{ steps.a.outputs.time }}"
`
	res, rec := e.run(src, "build", runOpts{})
	wantConclusion(t, res, rec, "success")
	// A local action's pre does not run, as on GitHub, which warns.
	wantLog(t, rec, "main: hello Mona action_path_ok=true", "output noon",
		"post sees undefined main-Mona", "post sees undefined main-Lisa", "uses node16, which is no longer supported",
		"`pre` execution is not supported for local action from './a'")
	if strings.Contains(rec.all(), "pre: hello") {
		t.Errorf("a local action's pre ran:\n%s", rec.all())
	}
	// Post steps run in reverse order: b's post (step 5) before a's (step 6).
	if got := rec.names[5]; got != "Post hello-node16" {
		t.Errorf("step 5 = %q, want Post hello-node16", got)
	}
	if got := rec.names[6]; got != "Post hello-node20" {
		t.Errorf("step 6 = %q, want Post hello-node20", got)
	}
}

func TestNodeActionFailures(t *testing.T) {
	needNode(t)
	tests := []struct {
		name, with string
		failed     int
		want       []string
	}{
		{"main fails, post still runs", "fail: 'true'", 2, []string{"main failing", "post sees undefined main-x"}},
		{"post fails the job", "post-fail: 'true'", 3, []string{"post: hello x", "Process completed with exit code 5."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			writeNodeAction(e, "a", "node24")
			src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: ./a
        with:
          who to greet: x
          ` + tt.with + `
`
			res, rec := e.run(src, "build", runOpts{})
			wantConclusion(t, res, rec, "failure")
			wantLog(t, rec, tt.want...)
			if res.FailedStep != tt.failed {
				t.Errorf("failed step = %d, want %d", res.FailedStep, tt.failed)
			}
			if !strings.Contains(rec.names[3], "Post") {
				t.Errorf("step 3 = %q, want the post step", rec.names[3])
			}
		})
	}
}
