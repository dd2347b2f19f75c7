package workflow

import (
	"fmt"
	"strings"

	"github.com/hookci/hookci/internal/expr"
)

// EvalTree evaluates every ${{ }} in a raw workflow tree ([]KV objects, []any
// arrays, scalars). A string that is one whole expression takes the value's
// type (so matrix: ${{ fromJSON(...) }} yields an object).
func EvalTree(v any, env *expr.Env) (any, error) {
	switch t := v.(type) {
	case string:
		if !expr.ContainsExpression(t) {
			return t, nil
		}
		val, err := expr.EvaluateValue(t, env)
		if err != nil {
			return nil, err
		}
		return fromExpr(val), nil
	case []KV:
		out := make([]KV, 0, len(t))
		for _, kv := range t {
			e, err := EvalTree(kv.Value, env)
			if err != nil {
				return nil, err
			}
			key := kv.Key
			if expr.ContainsExpression(key) {
				if isInsert(key) {
					// ${{ insert }}: the value's keys are merged in here.
					if m, ok := e.([]KV); ok {
						out = append(out, m...)
						continue
					}
					return nil, fmt.Errorf("${{ insert }} needs an object, got %T", e)
				}
				if key, err = expr.Interpolate(key, env); err != nil {
					return nil, err
				}
			}
			out = append(out, KV{Key: key, Value: e})
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(t))
		for _, x := range t {
			e, err := EvalTree(x, env)
			if err != nil {
				return nil, err
			}
			// A whole-expression item that yields a sequence is spliced in.
			if s, ok := x.(string); ok && isWholeExpression(s) {
				if arr, ok := e.([]any); ok {
					out = append(out, arr...)
					continue
				}
			}
			out = append(out, e)
		}
		return out, nil
	}
	return v, nil
}

func isInsert(key string) bool {
	body, ok := expr.WholeExpression(key)
	return ok && strings.TrimSpace(body) == "insert"
}

// isWholeExpression reports whether s is exactly one ${{ }} expression
// (surrounding spaces allowed), as for runs-on: ${{ matrix.os }}.
func isWholeExpression(s string) bool {
	_, ok := expr.WholeExpression(s)
	return ok
}

// fromExpr converts an expression value into the raw tree form (ordered).
func fromExpr(v expr.Value) any {
	switch v.Kind() {
	case expr.KindObject:
		var out []KV
		v.Object().Range(func(k string, x expr.Value) bool {
			out = append(out, KV{Key: k, Value: fromExpr(x)})
			return true
		})
		return out
	case expr.KindArray:
		vals := v.Array().Values()
		out := make([]any, len(vals))
		for i, x := range vals {
			out[i] = fromExpr(x)
		}
		return out
	}
	return expr.ToGo(v)
}

// EvalMatrix evaluates the job's strategy.matrix with env (matrix-level
// contexts: github, needs, inputs, vars…) and expands it into its legs. A
// job without a matrix has one leg, nil.
func (j *Job) EvalMatrix(env *expr.Env) ([]Combination, error) {
	if j.Strategy == nil || j.Strategy.Matrix == nil {
		return []Combination{nil}, nil
	}
	m, err := EvalTree(j.Strategy.Matrix, env)
	if err != nil {
		return nil, err
	}
	return ExpandMatrix(m)
}

// Eval evaluates a job's runs-on into labels.
func (r RunsOn) Eval(env *expr.Env) ([]string, error) {
	if r.Expr != "" {
		v, err := expr.EvaluateValue(r.Expr, env)
		if err != nil {
			return nil, err
		}
		if v.Kind() == expr.KindArray {
			var out []string
			for _, x := range v.Array().Values() {
				out = append(out, expr.String(x))
			}
			return out, nil
		}
		return []string{expr.String(v)}, nil
	}
	var out []string
	for _, l := range r.Labels {
		s, err := expr.Interpolate(l, env)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if len(out) == 0 && r.Group != "" {
		out = append(out, r.Group)
	}
	return out, nil
}

// Eval evaluates a concurrency section's group and cancel-in-progress. A nil
// section, or one with an empty group, gives no group ("", false).
func (c *Concurrency) Eval(env *expr.Env) (group string, cancelInProgress bool, err error) {
	if c == nil || strings.TrimSpace(c.Group) == "" {
		return "", false, nil
	}
	group, err = expr.Interpolate(c.Group, env)
	if err != nil {
		return "", false, fmt.Errorf("concurrency.group: %w", err)
	}
	cip := false
	if c.CancelInProgress != "" {
		v, err := expr.EvaluateValue(c.CancelInProgress, env)
		if err != nil {
			return "", false, fmt.Errorf("concurrency.cancel-in-progress: %w", err)
		}
		cip = expr.Truthy(v) && expr.String(v) != "false"
	}
	return group, cip, nil
}
