package dispatch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hookci/hookci/internal/expr"
	"github.com/hookci/hookci/internal/workflow"
)

// evalRaw evaluates every ${{ }} in a raw workflow tree ([]KV objects, []any
// arrays, scalars). A string that is one whole expression takes the value's
// type (so matrix: ${{ fromJSON(...) }} yields an object).
func evalRaw(v any, env *expr.Env) (any, error) {
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
	case []workflow.KV:
		out := make([]workflow.KV, 0, len(t))
		for _, kv := range t {
			e, err := evalRaw(kv.Value, env)
			if err != nil {
				return nil, err
			}
			key := kv.Key
			if expr.ContainsExpression(key) {
				if isInsert(key) {
					// ${{ insert }}: the value's keys are merged in here.
					if m, ok := e.([]workflow.KV); ok {
						out = append(out, m...)
						continue
					}
					return nil, fmt.Errorf("${{ insert }} needs an object, got %T", e)
				}
				if key, err = expr.Interpolate(key, env); err != nil {
					return nil, err
				}
			}
			out = append(out, workflow.KV{Key: key, Value: e})
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(t))
		for _, x := range t {
			e, err := evalRaw(x, env)
			if err != nil {
				return nil, err
			}
			// A whole-expression item that yields a sequence is spliced in.
			if s, ok := x.(string); ok && workflow.IsWholeExpression(s) {
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
	k := strings.TrimSpace(key)
	if !strings.HasPrefix(k, "${{") || !strings.HasSuffix(k, "}}") {
		return false
	}
	return strings.TrimSpace(k[3:len(k)-2]) == "insert"
}

// fromExpr converts an expression value into the raw tree form (ordered).
func fromExpr(v expr.Value) any {
	switch v.Kind() {
	case expr.KindObject:
		var out []workflow.KV
		v.Object().Range(func(k string, x expr.Value) bool {
			out = append(out, workflow.KV{Key: k, Value: fromExpr(x)})
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

// plainGo turns a raw tree into maps and slices (order lost) for expr.FromGo.
func plainGo(v any) any {
	switch t := v.(type) {
	case []workflow.KV:
		m := make(map[string]any, len(t))
		for _, kv := range t {
			m[kv.Key] = plainGo(kv.Value)
		}
		return m
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = plainGo(x)
		}
		return out
	}
	return v
}

// comboJSON encodes a matrix leg as a JSON object, keys in order ("" for none).
func comboJSON(c workflow.Combination) string {
	if len(c) == 0 {
		return ""
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range c {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(kv.Key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(orderedJSON(kv.Value))
	}
	b.WriteByte('}')
	return b.String()
}

func orderedJSON(v any) []byte {
	if kvs, ok := v.([]workflow.KV); ok {
		return []byte(comboJSON(workflow.Combination(kvs)))
	}
	if arr, ok := v.([]any); ok {
		var b bytes.Buffer
		b.WriteByte('[')
		for i, x := range arr {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(orderedJSON(x))
		}
		b.WriteByte(']')
		return b.Bytes()
	}
	out, err := json.Marshal(v)
	if err != nil {
		return []byte("null")
	}
	return out
}

// parseCombo decodes comboJSON's output.
func parseCombo(s string) (workflow.Combination, error) {
	if s == "" {
		return nil, nil
	}
	v, err := expr.FromJSON([]byte(s))
	if err != nil {
		return nil, err
	}
	kvs, _ := fromExpr(v).([]workflow.KV)
	return workflow.Combination(kvs), nil
}
