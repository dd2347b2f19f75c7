package dispatch

import (
	"strconv"
	"strings"

	"github.com/hookci/hookci/internal/workflow"
)

// typedInputs is the inputs context of a workflow_dispatch run: every
// declared input, given or defaulted, as its declared type (booleans and
// numbers are not strings there, unlike github.event.inputs).
func typedInputs(wf *workflow.Workflow, given map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range given {
		out[k] = v
	}
	t := wf.Trigger("workflow_dispatch")
	if t == nil {
		return out
	}
	for _, in := range t.Inputs {
		raw, ok := lookupFold(given, in.Name)
		var s string
		switch {
		case ok:
			s = stringOf(raw)
		case in.HasDefault:
			s = in.Default
		default:
			if in.Type == "boolean" {
				out[in.Name] = false
			} else {
				out[in.Name] = ""
			}
			continue
		}
		switch in.Type {
		case "boolean":
			out[in.Name] = strings.EqualFold(strings.TrimSpace(s), "true")
		case "number":
			if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
				out[in.Name] = f
			} else {
				out[in.Name] = s
			}
		default:
			out[in.Name] = s
		}
	}
	return out
}

func lookupFold(m map[string]any, k string) (any, bool) {
	if v, ok := m[k]; ok {
		return v, true
	}
	for mk, v := range m {
		if strings.EqualFold(mk, k) {
			return v, true
		}
	}
	return nil, false
}

func stringOf(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case nil:
		return ""
	}
	return workflow.FormatScalar(v)
}
