package workflow

import (
	"go.yaml.in/yaml/v4"
)

func (c *converter) job(id string, kn, n *yaml.Node) *Job {
	j := &Job{ID: id, Pos: pos(kn)}
	each(n, func(k string, _, v *yaml.Node) {
		switch k {
		case "name":
			j.Name = c.tb.str(v)
		case "needs":
			j.Needs = c.strs(v)
			j.NeedsPos = needsPos(v)
		case "if":
			j.If = c.tb.str(v)
		case "runs-on":
			j.RunsOn = c.runsOn(v)
		case "env":
			j.Env = c.env(v)
		case "defaults":
			j.Defaults = c.defaults(v)
		case "strategy":
			j.Strategy = c.strategy(v)
		case "outputs":
			j.Outputs = c.vars(v)
		case "steps":
			if v != nil && v.Kind == yaml.SequenceNode {
				for _, s := range v.Content {
					j.Steps = append(j.Steps, c.step(deref(s)))
				}
			}
		default:
			c.jobMore(j, k, v)
		}
	})
	return j
}

// jobMore converts the job keys that job leaves out.
func (c *converter) jobMore(j *Job, k string, v *yaml.Node) {
	switch k {
	case "timeout-minutes":
		j.TimeoutMinutes = c.tb.str(v)
	case "continue-on-error":
		j.ContinueOnError = c.tb.str(v)
	case "concurrency":
		j.Concurrency = c.concurrency(v)
	case "permissions":
		j.Permissions = c.permissions(v)
	case "container":
		j.Container = c.tb.tree(v, 0)
	case "services":
		j.Services = c.tb.tree(v, 0)
	case "environment":
		j.Environment = c.tb.tree(v, 0)
	case "uses":
		j.Uses, j.UsesPos = c.tb.str(v), pos(v)
	case "with":
		if obj, ok := c.tb.tree(v, 0).([]KV); ok {
			j.With = obj
			each(v, func(_ string, kn, _ *yaml.Node) { j.WithPos = append(j.WithPos, pos(kn)) })
		}
	case "secrets":
		if v != nil && v.Kind == yaml.ScalarNode {
			j.SecretsInherit = c.tb.str(v) == "inherit"
		} else {
			j.Secrets = c.vars(v)
			each(v, func(_ string, kn, _ *yaml.Node) { j.SecretsPos = append(j.SecretsPos, pos(kn)) })
		}
	}
}

func needsPos(n *yaml.Node) []Pos {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.SequenceNode {
		ps := make([]Pos, len(n.Content))
		for i, e := range n.Content {
			ps[i] = pos(e)
		}
		return ps
	}
	return []Pos{pos(n)}
}

func (c *converter) runsOn(n *yaml.Node) RunsOn {
	if n == nil {
		return RunsOn{}
	}
	switch n.Kind {
	case yaml.ScalarNode:
		s := c.tb.str(n)
		if isWholeExpression(s) {
			return RunsOn{Expr: s}
		}
		return RunsOn{Labels: []string{s}}
	case yaml.SequenceNode:
		return RunsOn{Labels: c.strs(n)}
	case yaml.MappingNode:
		return RunsOn{Group: c.tb.str(mapGet(n, "group")), Labels: c.strs(mapGet(n, "labels"))}
	}
	return RunsOn{}
}

func (c *converter) strategy(n *yaml.Node) *Strategy {
	if n == nil {
		return nil
	}
	s := &Strategy{Pos: pos(n)}
	if m := mapGet(n, "matrix"); m != nil {
		s.Matrix = c.tb.tree(m, 0)
	}
	s.FailFast = c.tb.str(mapGet(n, "fail-fast"))
	s.MaxParallel = c.tb.str(mapGet(n, "max-parallel"))
	return s
}

func (c *converter) step(n *yaml.Node) *Step {
	s := &Step{Pos: pos(n)}
	each(n, func(k string, _, v *yaml.Node) {
		switch k {
		case "id":
			s.ID = c.tb.str(v)
		case "name":
			s.Name = c.tb.str(v)
		case "if":
			s.If = c.tb.str(v)
		case "run":
			s.Run = c.tb.str(v)
		case "uses":
			s.Uses = c.tb.str(v)
		case "with":
			s.With = c.vars(v)
		case "env":
			s.Env = c.env(v)
		case "shell":
			s.Shell = c.tb.str(v)
		case "working-directory":
			s.WorkingDirectory = c.tb.str(v)
		case "continue-on-error":
			s.ContinueOnError = c.tb.str(v)
		case "timeout-minutes":
			s.TimeoutMinutes = c.tb.str(v)
		}
	})
	return s
}
