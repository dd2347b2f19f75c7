package workflow

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hookci/hookci/internal/expr"
)

// GitHub's limits on reusable workflows (docs: "Reusing workflows",
// limitations): ten levels of workflows counting the top-level caller, and
// 50 unique reusable workflows in the tree a top-level workflow calls.
const (
	MaxCallDepth       = 10
	MaxCalledWorkflows = 50
)

// CallRef is a parsed jobs.<id>.uses: a workflow of the caller's own
// repository and commit (Local), or owner/repo/path@ref.
type CallRef struct {
	Local bool
	Repo  string // owner/name; "" when Local
	Path  string // .github/workflows/<file>.yml
	Ref   string // branch, tag or commit; "" when Local
}

// String is the reference as written in a uses: value.
func (c CallRef) String() string {
	if c.Local {
		return "./" + c.Path
	}
	return c.Repo + "/" + c.Path + "@" + c.Ref
}

var (
	callOwnerRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	callFileRe  = regexp.MustCompile(`^\.github/workflows/[^/]+\.ya?ml$`)
)

// ParseCallRef parses a calling job's uses: value.
func ParseCallRef(uses string) (CallRef, error) {
	bad := func(why string) (CallRef, error) {
		return CallRef{}, fmt.Errorf("invalid value workflow reference %q: %s", uses, why)
	}
	if p, ok := strings.CutPrefix(uses, "./"); ok {
		if strings.Contains(uses, "@") {
			return bad("a local workflow reference takes no @ref (it is read at the caller's commit)")
		}
		if !callFileRe.MatchString(p) {
			return bad("references to workflows must be rooted in '.github/workflows' and name a .yml or .yaml file")
		}
		return CallRef{Local: true, Path: p}, nil
	}
	name, ref, ok := strings.Cut(uses, "@")
	if !ok || ref == "" {
		return bad("no version specified: expected {owner}/{repo}/.github/workflows/{file}@{ref} or ./.github/workflows/{file}")
	}
	if strings.ContainsAny(ref, " \t\n~^:?*[\\") || strings.Contains(ref, "..") {
		return bad("invalid ref " + strconv.Quote(ref))
	}
	parts := strings.SplitN(name, "/", 3)
	if len(parts) < 3 || !callOwnerRe.MatchString(parts[0]) || !callOwnerRe.MatchString(parts[1]) ||
		strings.Trim(parts[0], ".") == "" || strings.Trim(parts[1], ".") == "" {
		return bad("expected {owner}/{repo}/.github/workflows/{file}@{ref}")
	}
	if !callFileRe.MatchString(parts[2]) {
		return bad("references to workflows must be rooted in '.github/workflows' and name a .yml or .yaml file")
	}
	return CallRef{Repo: parts[0] + "/" + parts[1], Path: parts[2], Ref: ref}, nil
}

// CallTrigger returns the on.workflow_call trigger of a called workflow, or
// GitHub's error when the workflow is not reusable.
func (w *Workflow) CallTrigger() (*Trigger, error) {
	if t := w.Trigger("workflow_call"); t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("workflow is not reusable as it is missing a `on.workflow_call` trigger")
}

// posErr prefixes a message with file:line:col.
func posErr(file string, p Pos, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if p.Line > 0 {
		return fmt.Errorf("%s:%d:%d: %s", file, p.Line, p.Col, msg)
	}
	return fmt.Errorf("%s: %s", file, msg)
}

// CheckCall checks a calling job against the called workflow without
// evaluating anything (what GitHub checks when the run starts): every with:
// key is a declared input, every required input without a default is given,
// literal values have the declared type, every secret passed by name is
// declared and every required secret is passed (or inherited). file is the
// caller's file, for positions.
func CheckCall(file string, caller *Job, called *Workflow) error {
	t, err := called.CallTrigger()
	if err != nil {
		return posErr(file, caller.UsesPos, "%v", err)
	}
	for i, kv := range caller.With {
		in := findInput(t.Inputs, kv.Key)
		if in == nil {
			return posErr(file, caller.withPos(i), "Invalid input, %s is not defined in the referenced workflow.", kv.Key)
		}
		if s, ok := kv.Value.(string); ok && expr.ContainsExpression(s) {
			continue // typed when evaluated
		}
		if _, err := typeInput(*in, kv.Value); err != nil {
			return posErr(file, caller.withPos(i), "%v", err)
		}
	}
	for _, in := range t.Inputs {
		if in.Required && !in.HasDefault && findKV(caller.With, in.Name) < 0 {
			return posErr(file, caller.Pos, "Input %s is required, but not provided while calling.", in.Name)
		}
	}
	if caller.SecretsInherit {
		return nil
	}
	for i, s := range caller.Secrets {
		if findSecret(t.Secrets, s.Name) == nil {
			return posErr(file, caller.secretPos(i), "Invalid secret, %s is not defined in the referenced workflow.", s.Name)
		}
	}
	for _, s := range t.Secrets {
		if s.Required && findVar(caller.Secrets, s.Name) < 0 {
			return posErr(file, caller.Pos, "Secret %s is required, but not provided while calling.", s.Name)
		}
	}
	return nil
}

func (j *Job) secretPos(i int) Pos {
	if i < len(j.SecretsPos) {
		return j.SecretsPos[i]
	}
	return j.Pos
}

func (j *Job) withPos(i int) Pos {
	if i < len(j.WithPos) {
		return j.WithPos[i]
	}
	return j.Pos
}

// CallInputs is the inputs context of a called workflow: the calling job's
// with: evaluated in env (the caller's job-level contexts), each value typed
// as on.workflow_call.inputs declares it, defaults filled in (a default may
// hold an expression, evaluated in env). A missing optional input without a
// default is "", false or 0 by its type.
func CallInputs(file string, caller *Job, called *Workflow, env *expr.Env) (map[string]any, error) {
	if err := CheckCall(file, caller, called); err != nil {
		return nil, err
	}
	t, _ := called.CallTrigger()
	out := map[string]any{}
	for _, in := range t.Inputs {
		var raw any
		i := findKV(caller.With, in.Name)
		switch {
		case i >= 0:
			v, err := EvalTree(caller.With[i].Value, env)
			if err != nil {
				return nil, posErr(file, caller.withPos(i), "with.%s: %v", in.Name, err)
			}
			tv, err := typeInput(in, v)
			if err != nil {
				return nil, posErr(file, caller.withPos(i), "%v", err)
			}
			out[in.Name] = tv
			continue
		case in.HasDefault:
			v, err := EvalTree(in.Default, env)
			if err != nil {
				return nil, fmt.Errorf("%s: default of input %s: %w", called.File, in.Name, err)
			}
			raw = v
			if s, ok := raw.(string); ok && in.Type != "string" && in.Type != "" {
				raw = defaultScalar(in.Type, s)
			}
		}
		tv, err := typeInput(in, raw)
		if err != nil {
			return nil, fmt.Errorf("%s: default of input %s: %w", called.File, in.Name, err)
		}
		out[in.Name] = tv
	}
	return out, nil
}

// defaultScalar reads a default written as a string (the model keeps
// defaults raw) as the declared type, when it reads as one.
func defaultScalar(typ, s string) any {
	switch typ {
	case "boolean":
		if b, err := strconv.ParseBool(strings.TrimSpace(s)); err == nil {
			return b
		}
	case "number":
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
			return f
		}
	}
	return s
}

// typeInput checks one value against an input's declared type: a string
// input takes any scalar (as its string form), a number input a number, a
// boolean input a boolean. nil gives the type's zero value.
func typeInput(in Input, v any) (any, error) {
	if v == nil {
		switch in.Type {
		case "boolean":
			return false, nil
		case "number":
			return float64(0), nil
		}
		return "", nil
	}
	switch in.Type {
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case "number":
		if f, ok := v.(float64); ok {
			return f, nil
		}
	default:
		switch v.(type) {
		case string, bool, float64:
			return FormatScalar(v), nil
		}
	}
	//lint:ignore ST1005 worded like GitHub's other call errors ("Invalid input, …"), which start with a capital
	return nil, fmt.Errorf("Unexpected value for input %s: expected a %s, got %s%s", in.Name, kindWord(in.Type), typeName(v), shortValue(v))
}

func kindWord(typ string) string {
	if typ == "" {
		return "string"
	}
	return typ
}

func shortValue(v any) string {
	s := FormatScalar(v)
	if _, ok := v.(string); !ok {
		switch v.(type) {
		case bool, float64:
		default:
			return ""
		}
	}
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return " " + strconv.Quote(s)
}

// CallSecrets is the secrets context of a called workflow: with secrets:
// inherit every secret of the caller; else exactly the secrets the calling
// job passes by name, each value evaluated in env (whose secrets context is
// the caller's). A secret the caller does not pass is not there.
func CallSecrets(file string, caller *Job, called *Workflow, callerSecrets map[string]string, env *expr.Env) (map[string]string, error) {
	out := map[string]string{}
	if caller.SecretsInherit {
		for k, v := range callerSecrets {
			out[k] = v
		}
		return out, nil
	}
	t, err := called.CallTrigger()
	if err != nil {
		return nil, posErr(file, caller.UsesPos, "%v", err)
	}
	for i, s := range caller.Secrets {
		d := findSecret(t.Secrets, s.Name)
		if d == nil {
			return nil, posErr(file, caller.secretPos(i), "Invalid secret, %s is not defined in the referenced workflow.", s.Name)
		}
		v, err := expr.Interpolate(s.Value, env)
		if err != nil {
			return nil, posErr(file, caller.secretPos(i), "secrets.%s: %v", s.Name, err)
		}
		out[d.Name] = v
	}
	return out, nil
}

// CallOutputs evaluates on.workflow_call.outputs of a called workflow once
// its jobs are over; env holds the jobs context (jobs.<id>.outputs and
// .result) and the called workflow's inputs.
func CallOutputs(called *Workflow, env *expr.Env) (map[string]string, error) {
	t, err := called.CallTrigger()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, o := range t.Outputs {
		v, err := expr.Interpolate(o.Value, env)
		if err != nil {
			return nil, fmt.Errorf("%s: on.workflow_call.outputs.%s: %w", called.File, o.Name, err)
		}
		out[o.Name] = v
	}
	return out, nil
}

func findInput(ins []Input, name string) *Input {
	for i := range ins {
		if strings.EqualFold(ins[i].Name, name) {
			return &ins[i]
		}
	}
	return nil
}

func findSecret(ss []CallSecret, name string) *CallSecret {
	for i := range ss {
		if strings.EqualFold(ss[i].Name, name) {
			return &ss[i]
		}
	}
	return nil
}

func findKV(kvs []KV, name string) int {
	for i, kv := range kvs {
		if strings.EqualFold(kv.Key, name) {
			return i
		}
	}
	return -1
}

func findVar(vs []Var, name string) int {
	for i, v := range vs {
		if strings.EqualFold(v.Name, name) {
			return i
		}
	}
	return -1
}
