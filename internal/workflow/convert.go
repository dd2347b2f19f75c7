package workflow

import (
	"go.yaml.in/yaml/v4"
)

// converter builds the model from a YAML tree that passed validation. It is
// defensive anyway: unexpected shapes become zero values, never panics.
type converter struct {
	tb treeBuilder
}

func pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{}
	}
	return Pos{Line: n.Line, Col: n.Column}
}

// each calls f for every key/value pair of mapping m, in order.
func each(m *yaml.Node, f func(k string, kn, v *yaml.Node)) {
	m = deref(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn := deref(m.Content[i])
		if kn == nil {
			continue
		}
		f(kn.Value, kn, deref(m.Content[i+1]))
	}
}

// strs converts a scalar or a sequence of scalars into strings; an absent
// or null node gives nil, a present one a non-nil slice.
func (c *converter) strs(n *yaml.Node) []string {
	n = deref(n)
	if n == nil || isNull(n) {
		return nil
	}
	out := []string{}
	switch n.Kind {
	case yaml.ScalarNode:
		out = append(out, c.tb.str(n))
	case yaml.SequenceNode:
		for _, e := range n.Content {
			out = append(out, c.tb.str(e))
		}
	}
	return out
}

func isNull(n *yaml.Node) bool {
	v, _ := scalarValue(n)
	return n.Kind == yaml.ScalarNode && v == nil && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0
}

func convertWorkflow(file string, root *yaml.Node, ps *problems) *Workflow {
	c := &converter{tb: treeBuilder{budget: maxNodes, errs: ps}}
	top := docRoot(root)
	w := &Workflow{File: file, Pos: pos(top)}
	each(top, func(k string, _, v *yaml.Node) {
		switch k {
		case "name":
			w.Name = c.tb.str(v)
		case "run-name":
			w.RunName = c.tb.str(v)
		case "on":
			w.On = c.triggers(v)
		case "env":
			w.Env = c.env(v)
		case "defaults":
			w.Defaults = c.defaults(v)
		case "concurrency":
			w.Concurrency = c.concurrency(v)
		case "permissions":
			w.Permissions = c.permissions(v)
		case "jobs":
			each(v, func(id string, kn, jv *yaml.Node) {
				w.Jobs = append(w.Jobs, c.job(id, kn, jv))
			})
		}
	})
	return w
}

func (c *converter) env(n *yaml.Node) Env {
	if n == nil {
		return Env{}
	}
	if n.Kind == yaml.ScalarNode {
		return Env{Expr: c.tb.str(n)}
	}
	return Env{Vars: c.vars(n)}
}

// vars converts a mapping of scalars into ordered Vars.
func (c *converter) vars(n *yaml.Node) []Var {
	var out []Var
	each(n, func(k string, _, v *yaml.Node) {
		out = append(out, Var{Name: k, Value: c.tb.str(v)})
	})
	return out
}

func (c *converter) defaults(n *yaml.Node) Defaults {
	run := mapGet(n, "run")
	return Defaults{Run: RunDefaults{
		Shell:            c.tb.str(mapGet(run, "shell")),
		WorkingDirectory: c.tb.str(mapGet(run, "working-directory")),
	}}
}

func (c *converter) concurrency(n *yaml.Node) *Concurrency {
	if n == nil {
		return nil
	}
	cc := &Concurrency{Pos: pos(n)}
	if n.Kind == yaml.ScalarNode {
		cc.Group = c.tb.str(n)
		return cc
	}
	cc.Group = c.tb.str(mapGet(n, "group"))
	cc.CancelInProgress = c.tb.str(mapGet(n, "cancel-in-progress"))
	return cc
}

func (c *converter) permissions(n *yaml.Node) *Permissions {
	if n == nil {
		return nil
	}
	p := &Permissions{Pos: pos(n)}
	switch n.Kind {
	case yaml.ScalarNode:
		p.All = c.tb.str(n)
	case yaml.MappingNode:
		if len(n.Content) == 0 {
			p.All = "{}"
		}
		p.Scopes = c.vars(n)
	}
	return p
}
