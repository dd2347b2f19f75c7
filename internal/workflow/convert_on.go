package workflow

import (
	"go.yaml.in/yaml/v4"
)

// triggers converts on: in its three forms (string, list, mapping).
func (c *converter) triggers(n *yaml.Node) []*Trigger {
	if n == nil {
		return nil
	}
	var out []*Trigger
	switch n.Kind {
	case yaml.ScalarNode:
		out = append(out, &Trigger{Event: c.tb.str(n), Pos: pos(n)})
	case yaml.SequenceNode:
		for _, e := range n.Content {
			out = append(out, &Trigger{Event: c.tb.str(e), Pos: pos(e)})
		}
	case yaml.MappingNode:
		each(n, func(k string, kn, v *yaml.Node) {
			out = append(out, c.trigger(k, kn, v))
		})
	}
	return out
}

func (c *converter) trigger(event string, kn, v *yaml.Node) *Trigger {
	t := &Trigger{Event: event, Pos: pos(kn)}
	if event == "schedule" {
		if v != nil && v.Kind == yaml.SequenceNode {
			for _, e := range v.Content {
				cn := mapGet(e, "cron")
				s := Schedule{Cron: c.tb.str(cn), Timezone: c.tb.str(mapGet(e, "timezone")), Pos: pos(cn)}
				if cn == nil {
					s.Pos = pos(e)
				}
				if _, err := ParseCron(s.Cron, s.Timezone); err != nil {
					c.tb.errs.addAt(s.Pos, err.Error(), "schedule")
				}
				t.Schedules = append(t.Schedules, s)
			}
		}
		return t
	}
	each(v, func(k string, _, fv *yaml.Node) {
		switch k {
		case "types":
			t.Types = c.strs(fv)
		case "branches":
			t.Branches = c.strs(fv)
		case "branches-ignore":
			t.BranchesIgnore = c.strs(fv)
		case "tags":
			t.Tags = c.strs(fv)
		case "tags-ignore":
			t.TagsIgnore = c.strs(fv)
		case "paths":
			t.Paths = c.strs(fv)
		case "paths-ignore":
			t.PathsIgnore = c.strs(fv)
		case "workflows":
			t.Workflows = c.strs(fv)
		case "inputs":
			t.Inputs = c.inputs(fv)
		case "outputs":
			each(fv, func(name string, _, ov *yaml.Node) {
				t.Outputs = append(t.Outputs, CallOutput{
					Name:        name,
					Description: c.tb.str(mapGet(ov, "description")),
					Value:       c.tb.str(mapGet(ov, "value")),
				})
			})
		case "secrets":
			each(fv, func(name string, _, sv *yaml.Node) {
				t.Secrets = append(t.Secrets, CallSecret{
					Name:        name,
					Description: c.tb.str(mapGet(sv, "description")),
					Required:    c.tb.str(mapGet(sv, "required")) == "true",
				})
			})
		}
	})
	return t
}

func (c *converter) inputs(n *yaml.Node) []Input {
	var out []Input
	each(n, func(name string, _, v *yaml.Node) {
		in := Input{
			Name:        name,
			Description: c.tb.str(mapGet(v, "description")),
			Type:        c.tb.str(mapGet(v, "type")),
			Required:    c.tb.str(mapGet(v, "required")) == "true",
		}
		if d := mapGet(v, "default"); d != nil {
			in.Default, in.HasDefault = c.tb.str(d), true
		}
		if o := mapGet(v, "options"); o != nil {
			in.Options = c.strs(o)
		}
		out = append(out, in)
	})
	return out
}
