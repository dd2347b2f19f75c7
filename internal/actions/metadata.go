package actions

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/hookci/hookci/internal/workflow"
)

// Metadata is a parsed action.yml / action.yaml.
type Metadata struct {
	File        string // for messages: where the metadata came from
	Raw         []byte // the file as read
	Name        string
	Description string
	Author      string
	Inputs      []Input
	Outputs     []Output
	Runs        Runs
}

// Input is one declared input of an action.
type Input struct {
	Name               string
	Description        string
	Default            string // raw, may hold ${{ }} expressions
	HasDefault         bool
	Required           bool
	DeprecationMessage string
}

// Output is one declared output; Value is set for composite actions only.
type Output struct {
	Name        string
	Description string
	Value       string
}

// Runs is the runs: section.
type Runs struct {
	Using string // composite, node12/16/20/24, docker
	// JavaScript actions.
	Main, Pre, Post, PreIf, PostIf string
	// Docker actions.
	Image                                     string
	Entrypoint, PreEntrypoint, PostEntrypoint string
	Args                                      []string
	Env                                       []workflow.Var
	// Composite actions.
	Steps []*workflow.Step
}

// MetadataError is a problem in an action's metadata file.
type MetadataError struct {
	File string
	Line int
	Msg  string
}

func (e *MetadataError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// ParseMetadata parses and validates an action's metadata file.
func ParseMetadata(file string, data []byte) (*Metadata, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &MetadataError{File: file, Msg: "invalid YAML: " + err.Error()}
	}
	p := &metaParser{file: file}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, p.errAt(nil, "empty action metadata")
	}
	root := deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, p.errAt(root, "action metadata must be a mapping")
	}
	m := &Metadata{File: file, Raw: data}
	var runs *yaml.Node
	for k, v := range pairs(root) {
		switch k.Value {
		case "name":
			m.Name = scalar(v)
		case "description":
			m.Description = scalar(v)
		case "author":
			m.Author = scalar(v)
		case "inputs":
			m.Inputs = p.inputs(v)
		case "outputs":
			m.Outputs = p.outputs(v)
		case "runs":
			runs = v
		}
	}
	if runs == nil {
		p.fail(root, "'runs' is required")
	} else {
		m.Runs = p.runs(runs)
	}
	if p.err != nil {
		return nil, p.err
	}
	return m, nil
}

type metaParser struct {
	file string
	err  error
}

func (p *metaParser) errAt(n *yaml.Node, msg string) error {
	e := &MetadataError{File: p.file, Msg: msg}
	if n != nil {
		e.Line = n.Line
	}
	return e
}

func (p *metaParser) fail(n *yaml.Node, format string, args ...any) {
	p.err = errors.Join(p.err, p.errAt(n, fmt.Sprintf(format, args...)))
}

// pairs iterates a mapping's key/value nodes.
func pairs(n *yaml.Node) func(func(*yaml.Node, *yaml.Node) bool) {
	return func(yield func(*yaml.Node, *yaml.Node) bool) {
		n = deref(n)
		if n == nil || n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if !yield(n.Content[i], deref(n.Content[i+1])) {
				return
			}
		}
	}
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 50; i++ {
		n = n.Alias
	}
	return n
}

func scalar(n *yaml.Node) string {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

func (p *metaParser) inputs(n *yaml.Node) []Input {
	if n.Kind != yaml.MappingNode {
		if scalar(n) != "" {
			p.fail(n, "'inputs' must be a mapping")
		}
		return nil
	}
	var out []Input
	for k, v := range pairs(n) {
		in := Input{Name: k.Value}
		for fk, fv := range pairs(v) {
			switch fk.Value {
			case "description":
				in.Description = scalar(fv)
			case "default":
				in.Default, in.HasDefault = scalar(fv), true
			case "required":
				in.Required = p.boolean(fv)
			case "deprecationMessage":
				in.DeprecationMessage = scalar(fv)
			}
		}
		out = append(out, in)
	}
	return out
}

func (p *metaParser) boolean(n *yaml.Node) bool {
	switch strings.ToLower(scalar(n)) {
	case "true":
		return true
	case "false", "":
		return false
	}
	if strings.Contains(n.Value, "${{") {
		return false // GitHub does not evaluate it; treat as not required
	}
	p.fail(n, "expected a boolean, got %q", n.Value)
	return false
}

func (p *metaParser) outputs(n *yaml.Node) []Output {
	if n.Kind != yaml.MappingNode {
		if scalar(n) != "" {
			p.fail(n, "'outputs' must be a mapping")
		}
		return nil
	}
	var out []Output
	for k, v := range pairs(n) {
		o := Output{Name: k.Value}
		for fk, fv := range pairs(v) {
			switch fk.Value {
			case "description":
				o.Description = scalar(fv)
			case "value":
				o.Value = scalar(fv)
			}
		}
		out = append(out, o)
	}
	return out
}

func (p *metaParser) runs(n *yaml.Node) Runs {
	var r Runs
	if n.Kind != yaml.MappingNode {
		p.fail(n, "'runs' must be a mapping")
		return r
	}
	var steps *yaml.Node
	for k, v := range pairs(n) {
		switch k.Value {
		case "using":
			r.Using = strings.ToLower(strings.TrimSpace(scalar(v)))
		case "main":
			r.Main = scalar(v)
		case "pre":
			r.Pre = scalar(v)
		case "post":
			r.Post = scalar(v)
		case "pre-if":
			r.PreIf = scalar(v)
		case "post-if":
			r.PostIf = scalar(v)
		case "image":
			r.Image = scalar(v)
		case "entrypoint":
			r.Entrypoint = scalar(v)
		case "pre-entrypoint":
			r.PreEntrypoint = scalar(v)
		case "post-entrypoint":
			r.PostEntrypoint = scalar(v)
		case "args":
			for _, a := range v.Content {
				r.Args = append(r.Args, scalar(a))
			}
		case "env":
			for ek, ev := range pairs(v) {
				r.Env = append(r.Env, workflow.Var{Name: ek.Value, Value: scalar(ev)})
			}
		case "steps":
			steps = v
		}
	}
	switch {
	case r.Using == "":
		p.fail(n, "'runs.using' is required")
	case r.Using == "composite":
		if steps == nil {
			p.fail(n, "composite action: 'runs.steps' is required")
		} else {
			r.Steps = p.steps(steps)
		}
	case isNode(r.Using):
		if r.Main == "" {
			p.fail(n, "JavaScript action: 'runs.main' is required")
		}
	case r.Using == "docker":
		if r.Image == "" {
			p.fail(n, "docker action: 'runs.image' is required")
		}
	default:
		p.fail(n, "'runs.using' is %q; expected composite, node20, node24 (or node12, node16) or docker", r.Using)
	}
	return r
}

func isNode(using string) bool {
	switch using {
	case "node12", "node16", "node20", "node24":
		return true
	}
	return false
}

func (p *metaParser) steps(n *yaml.Node) []*workflow.Step {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, "'runs.steps' must be a sequence")
		return nil
	}
	var out []*workflow.Step
	for _, sn := range n.Content {
		sn = deref(sn)
		if sn.Kind != yaml.MappingNode {
			p.fail(sn, "a step must be a mapping")
			continue
		}
		s := &workflow.Step{Pos: workflow.Pos{Line: sn.Line, Col: sn.Column}}
		for k, v := range pairs(sn) {
			p.stepField(s, k, v)
		}
		switch {
		case s.Run == "" && s.Uses == "":
			p.fail(sn, "a composite step needs 'run' or 'uses'")
		case s.Run != "" && s.Uses != "":
			p.fail(sn, "a composite step cannot have both 'run' and 'uses'")
		case s.Run != "" && s.Shell == "":
			p.fail(sn, "a composite 'run' step requires 'shell'")
		}
		out = append(out, s)
	}
	return out
}

func (p *metaParser) stepField(s *workflow.Step, k, v *yaml.Node) {
	switch k.Value {
	case "id":
		s.ID = scalar(v)
	case "name":
		s.Name = scalar(v)
	case "if":
		s.If = scalar(v)
	case "run":
		s.Run = scalar(v)
	case "uses":
		s.Uses = scalar(v)
	case "shell":
		s.Shell = scalar(v)
	case "working-directory":
		s.WorkingDirectory = scalar(v)
	case "continue-on-error":
		s.ContinueOnError = scalar(v)
	case "timeout-minutes":
		s.TimeoutMinutes = scalar(v)
	case "with":
		for wk, wv := range pairs(v) {
			s.With = append(s.With, workflow.Var{Name: wk.Value, Value: scalar(wv)})
		}
	case "env":
		if v.Kind == yaml.ScalarNode {
			s.Env.Expr = v.Value
			return
		}
		for ek, ev := range pairs(v) {
			s.Env.Vars = append(s.Env.Vars, workflow.Var{Name: ek.Value, Value: scalar(ev)})
		}
	default:
		p.fail(k, "unknown step key %q", k.Value)
	}
}
