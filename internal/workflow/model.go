package workflow

import "strings"

// Pos is a 1-based line and column in a workflow file.
type Pos struct {
	Line int
	Col  int
}

// KV is one key of an ordered object in a raw YAML tree (see the package doc).
type KV struct {
	Key   string
	Value any
}

// Var is one ordered name/value pair whose value is a raw string (env, step
// with:, outputs, secrets).
type Var struct {
	Name  string
	Value string
}

// Workflow is one workflow file.
type Workflow struct {
	File        string
	Name        string // raw; "" when absent
	RunName     string // raw; "" when absent
	On          []*Trigger
	Env         Env
	Defaults    Defaults
	Concurrency *Concurrency // nil when absent
	Permissions *Permissions // nil when absent
	Jobs        []*Job       // in file order
	// Warnings are problems GitHub would not reject the workflow for
	// (unknown runner labels, outdated actions, type doubts in expressions…).
	Warnings []Problem
	Pos      Pos
}

// Trigger is one event under on: with its filters. A filter slice is nil when
// the filter is absent and non-nil (possibly empty) when present.
type Trigger struct {
	Event          string // push, pull_request, workflow_dispatch, schedule, …
	Types          []string
	Branches       []string
	BranchesIgnore []string
	Tags           []string
	TagsIgnore     []string
	Paths          []string
	PathsIgnore    []string
	Workflows      []string     // workflow_run
	Inputs         []Input      // workflow_dispatch and workflow_call
	Outputs        []CallOutput // workflow_call
	Secrets        []CallSecret // workflow_call
	Schedules      []Schedule   // schedule
	Pos            Pos
}

// Input is a workflow_dispatch or workflow_call input.
type Input struct {
	Name        string
	Description string
	Type        string // string, boolean, number, choice, environment; "" when unspecified
	Default     string // raw, canonical form for non-string scalars ("true", "3")
	HasDefault  bool
	Required    bool
	Options     []string // choice
}

// CallOutput is an output of a reusable workflow (on.workflow_call.outputs).
type CallOutput struct {
	Name        string
	Description string
	Value       string // raw expression
}

// CallSecret is a secret declared by a reusable workflow.
type CallSecret struct {
	Name        string
	Description string
	Required    bool
}

// Schedule is one on.schedule entry.
type Schedule struct {
	Cron     string
	Timezone string
	Pos      Pos // of the cron value
}

// Env is an ordered environment, or a whole-expression string such as
// ${{ fromJSON(needs.a.outputs.env) }} (then Vars is empty).
type Env struct {
	Vars []Var
	Expr string
}

// IsZero reports whether env sets nothing.
func (e Env) IsZero() bool { return len(e.Vars) == 0 && e.Expr == "" }

// Defaults is the defaults: section of a workflow or job.
type Defaults struct {
	Run RunDefaults
}

// RunDefaults holds defaults.run; empty strings mean unset.
type RunDefaults struct {
	Shell            string
	WorkingDirectory string
}

// Concurrency is a concurrency: section (string form sets only Group).
type Concurrency struct {
	Group            string // raw
	CancelInProgress string // raw: "true", "false", an expression, or "" when absent
	Pos              Pos
}

// Permissions is a permissions: section: either All (read-all, write-all, or
// "{}" for none) or per-scope values in file order.
type Permissions struct {
	All    string
	Scopes []Var
	Pos    Pos
}

// RunsOn is a job's runs-on: plain labels, the group/labels form, or one
// whole-expression string (Expr) evaluated by the runner.
type RunsOn struct {
	Labels []string // raw; each may contain ${{ }}
	Group  string
	Expr   string
}

// Strategy is jobs.<id>.strategy.
type Strategy struct {
	// Matrix is the raw matrix: []KV (with include/exclude keys kept in
	// place), a whole-expression string, or nil when absent.
	Matrix      any
	FailFast    string // raw; "" means the default (true)
	MaxParallel string // raw; "" means unlimited
	Pos         Pos
}

// Job is one entry of jobs:.
type Job struct {
	ID              string
	Name            string // raw; "" when absent (display name defaults to ID)
	Needs           []string
	If              string // raw as written; see NormalizeIf
	RunsOn          RunsOn
	Env             Env
	Defaults        Defaults
	Strategy        *Strategy // nil when absent
	Outputs         []Var
	Steps           []*Step
	TimeoutMinutes  string // raw; "" means the default (360)
	ContinueOnError string // raw; "" means false
	Concurrency     *Concurrency
	Permissions     *Permissions
	Container       any    // raw tree: image string or object; nil when absent
	Services        any    // raw tree: []KV by service id, or a whole-expression string; nil when absent
	Environment     any    // raw tree: name string or {name, url}; nil when absent
	Uses            string // reusable workflow call
	With            []KV   // inputs of a reusable workflow call
	Secrets         []Var  // secrets of a reusable workflow call
	SecretsInherit  bool   // secrets: inherit
	UsesPos         Pos    // position of uses: (reusable workflow call)
	WithPos         []Pos  // position of each With key
	SecretsPos      []Pos  // position of each Secrets key
	Pos             Pos
	NeedsPos        []Pos // position of each Needs entry
}

// Step is one entry of jobs.<id>.steps.
type Step struct {
	ID               string // "" when absent
	Name             string // raw
	If               string // raw as written
	Run              string // script, exactly as in the file (block scalars kept)
	Uses             string
	With             []Var
	Env              Env
	Shell            string
	WorkingDirectory string
	ContinueOnError  string // raw; "" means false
	TimeoutMinutes   string // raw; "" means none
	Pos              Pos
}

// Job returns the job with the given id (case-insensitive, as on GitHub), or nil.
func (w *Workflow) Job(id string) *Job {
	for _, j := range w.Jobs {
		if strings.EqualFold(j.ID, id) {
			return j
		}
	}
	return nil
}

// Trigger returns the trigger for the event name, or nil.
func (w *Workflow) Trigger(event string) *Trigger {
	for _, t := range w.On {
		if t.Event == event {
			return t
		}
	}
	return nil
}
