package workflow

import (
	"bytes"
	"encoding/json"

	"github.com/hookci/hookci/internal/expr"
)

// JSON encodes a matrix leg as a JSON object, keys in order ("" for none),
// the form a leg is stored in; ParseCombination decodes it.
func (c Combination) JSON() string {
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
	if kvs, ok := v.([]KV); ok {
		return []byte(Combination(kvs).JSON())
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

// ParseCombination decodes Combination.JSON's output ("" is no leg, nil).
func ParseCombination(s string) (Combination, error) {
	if s == "" {
		return nil, nil
	}
	v, err := expr.FromJSON([]byte(s))
	if err != nil {
		return nil, err
	}
	kvs, _ := fromExpr(v).([]KV)
	return Combination(kvs), nil
}

// Context is the matrix context of this leg (an empty object for none).
func (c Combination) Context() *expr.Object {
	matrix := expr.NewObject()
	for _, kv := range c {
		matrix.Set(kv.Key, expr.FromGo(plain(kv.Value)))
	}
	return matrix
}
