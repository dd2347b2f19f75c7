package actions

import (
	"strings"
	"testing"
)

const greetAction = `name: greet
inputs:
  who:
    description: who
    required: true
  greeting:
    default: Hello
  token:
    default: ${{ github.token }}
  echo:
    default: ${{ inputs.who }}!
outputs:
  message:
    value: ${{ steps.say.outputs.msg }}
  nested:
    value: ${{ steps.inner.outputs.deep }}
runs:
  using: composite
  steps:
    - id: say
      shell: bash
      run: |
        echo "msg=${{ inputs.greeting }}, ${{ inputs.who }}" >> "$GITHUB_OUTPUT"
        echo "echo=${{ inputs.echo }} toklen=${#TOK}"
        echo "outer-steps=[${{ steps.first.outputs.x }}]"
        test -f "$GITHUB_ACTION_PATH/helper.sh" && "$GITHUB_ACTION_PATH/helper.sh"
        echo "FROM_COMPOSITE=yes" >> "$GITHUB_ENV"
        echo "/opt/composite-bin" >> "$GITHUB_PATH"
      env:
        TOK: ${{ inputs.token }}
    - shell: bash
      run: echo "seen FROM_COMPOSITE=$FROM_COMPOSITE in the next composite step; pwd=$(basename $PWD)"
      working-directory: sub
    - id: inner
      uses: ./.github/actions/inner
      with:
        level: ${{ steps.say.outputs.msg }}
    - shell: sh
      if: failure()
      run: echo "must not run"
`

const innerAction = `name: inner
inputs:
  level: {}
outputs:
  deep:
    value: deep-${{ inputs.level }}
runs:
  using: composite
  steps:
    - shell: bash
      run: echo "inner got ${{ inputs.level }}"
`

func TestCompositeAction(t *testing.T) {
	e := newEnv(t, nil)
	e.write(map[string]string{
		".github/actions/greet/action.yml":  greetAction,
		".github/actions/greet/helper.sh":   "#!/bin/sh\necho helper ran\n",
		".github/actions/inner/action.yaml": innerAction,
		"sub/.keep":                         "",
	})
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: first
        run: echo "x=outer" >> "$GITHUB_OUTPUT"
      - id: greet
        uses: ./.github/actions/greet
        with:
          who: Mona
      - run: |
          echo "message=${{ steps.greet.outputs.message }}"
          echo "nested=${{ steps.greet.outputs.nested }}"
          echo "env=$FROM_COMPOSITE"
          case ":$PATH:" in *:/opt/composite-bin:*) echo "path ok";; esac
`
	res, rec := e.run(src, "build", runOpts{})
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec,
		"echo=Mona! toklen=16",
		"outer-steps=[]", // the composite has its own steps context
		"helper ran",
		"seen FROM_COMPOSITE=yes in the next composite step; pwd=sub",
		"inner got Hello, Mona",
		"message=Hello, Mona",
		"nested=deep-Hello, Mona",
		"env=yes",
		"path ok",
	)
	if hasLine(rec, "must not run") {
		t.Errorf("if: failure() step ran:\n%s", rec.all())
	}
}

func TestCompositeFailureKeepsOutputsAndSkips(t *testing.T) {
	e := newEnv(t, nil)
	e.write(map[string]string{"act/action.yml": `
outputs:
  color:
    value: c-${{ steps.pick.outputs.color }}
runs:
  using: composite
  steps:
    - id: pick
      shell: bash
      run: echo "color=green" >> "$GITHUB_OUTPUT"
    - shell: bash
      run: exit 3
    - shell: bash
      run: echo "after failure should not run"
    - shell: bash
      if: failure()
      run: echo "cleanup ran"
`})
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: c
        uses: ./act
        continue-on-error: true
      - run: echo "got ${{ steps.c.outputs.color }} outcome=${{ steps.c.outcome }} conclusion=${{ steps.c.conclusion }}"
`
	res, rec := e.run(src, "build", runOpts{})
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "cleanup ran", "got c-green outcome=failure conclusion=success")
	if hasLine(rec, "after failure should not run") {
		t.Errorf("a step after the failure ran:\n%s", rec.all())
	}
}

func TestCompositeDepthLimit(t *testing.T) {
	e := newEnv(t, nil)
	e.write(map[string]string{"loop/action.yml": "runs:\n  using: composite\n  steps:\n    - uses: ./loop\n"})
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: ./loop
`
	res, rec := e.run(src, "build", runOpts{})
	wantConclusion(t, res, rec, "failure")
	wantLog(t, rec, "nested more than 10 levels deep")
}

func TestLocalActionErrors(t *testing.T) {
	e := newEnv(t, nil)
	e.write(map[string]string{
		"noshell/action.yml":  "runs:\n  using: composite\n  steps:\n    - run: echo hi\n",
		"dock/action.yml":     "runs:\n  using: docker\n  image: Dockerfile\n",
		"dock/Dockerfile":     "FROM debian:bookworm\nRUN true\n",
		"dockbad/action.yml":  "runs:\n  using: docker\n  image: Dockerfile\n",
		"dockbad/Dockerfile":  "FROM debian:bookworm\n\nONBUILD RUN true\n",
		"docknone/action.yml": "runs:\n  using: docker\n  image: Dockerfile\n",
	})
	tests := []struct {
		uses string
		want string
	}{
		{"./missing", "Can't find 'action.yml', 'action.yaml' or 'Dockerfile' under './missing'"},
		{"./noshell", "noshell/action.yml:4: a composite 'run' step requires 'shell'"},
		{"./dock", "./dock: building a Dockerfile action's image needs the namespace backend (this job runs on host"},
		{"./dockbad", "./dockbad: dockbad/Dockerfile:3: ONBUILD is not supported"},
		{"./docknone", "./docknone: reading Dockerfile:"},
		{"docker://alpine:3.20", "docker://alpine:3.20: the host sandbox cannot run containers"},
	}
	for _, tt := range tests {
		t.Run(tt.uses, func(t *testing.T) {
			src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: ` + tt.uses + `
      - if: always()
        run: echo "the rest of the job runs"
`
			res, rec := e.run(src, "build", runOpts{})
			wantConclusion(t, res, rec, "failure")
			wantLog(t, rec, tt.want, "the rest of the job runs")
			if res.FailedStep != 2 {
				t.Errorf("failed step = %d, want 2", res.FailedStep)
			}
		})
	}
}

// TestCompositeStepTimeoutAndContinueOnError: a composite step's
// timeout-minutes ends it (the step fails with GitHub's message), and its
// continue-on-error keeps the action going and successful; without
// continue-on-error the timed-out step fails the action.
func TestCompositeStepTimeoutAndContinueOnError(t *testing.T) {
	e := newEnv(t, nil)
	e.write(map[string]string{"act/action.yml": `
inputs:
  tolerate:
    default: 'false'
outputs:
  slow:
    value: ${{ steps.slow.outcome }}/${{ steps.slow.conclusion }}
runs:
  using: composite
  steps:
    - id: slow
      shell: bash
      timeout-minutes: 0.02
      continue-on-error: ${{ inputs.tolerate == 'true' }}
      run: echo started; sleep 120; echo "slow step finished"
    - shell: bash
      run: echo "after the slow step"
`})
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: ok
        uses: ./act
        with:
          tolerate: 'true'
      - run: echo "tolerated=${{ steps.ok.outputs.slow }} step=${{ steps.ok.outcome }}"
      - id: bad
        uses: ./act
      - if: always()
        run: echo "bad step=${{ steps.bad.outcome }}"
`
	res, rec := e.run(src, "build", runOpts{})
	wantConclusion(t, res, rec, "failure")
	wantLog(t, rec, "the step has timed out after 0.02 minutes", "tolerated=failure/success step=success", "bad step=failure")
	if hasLine(rec, "slow step finished") {
		t.Errorf("the timed-out step ran to its end:\n%s", rec.all())
	}
	if n := strings.Count(rec.all(), "\nafter the slow step\n"); n != 1 {
		t.Errorf("the step after the slow one ran %d times, want once (only when tolerated):\n%s", n, rec.all())
	}
}
