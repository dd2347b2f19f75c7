package workflow

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// MaxCombinations is GitHub's limit of jobs one matrix may generate.
const MaxCombinations = 256

// Combination is one expanded matrix configuration: key/value pairs in
// order (matrix keys first, then keys added by include).
type Combination []KV

// Get returns the value for key.
func (c Combination) Get(key string) (any, bool) {
	for _, kv := range c {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

func (c Combination) set(key string, v any) Combination {
	for i := range c {
		if c[i].Key == key {
			c[i].Value = v
			return c
		}
	}
	return append(c, KV{Key: key, Value: v})
}

// Suffix renders the values the way GitHub appends them to a matrix job's
// name: "ubuntu-latest, 18" (null and empty values left out, objects and
// arrays as compact JSON).
func (c Combination) Suffix() string {
	parts := make([]string, 0, len(c))
	for _, kv := range c {
		if s := displayValue(kv.Value); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

// MatrixJobName is the display name of one matrix job: name (the job's
// name:, or its id when it has none) followed by " (values)". A name holding
// ${{ }} is returned unchanged: GitHub adds no suffix to it, and the caller
// evaluates it with the matrix context.
func MatrixJobName(name string, c Combination) string {
	if strings.Contains(name, "${{") {
		return name
	}
	if s := c.Suffix(); s != "" {
		return name + " (" + s + ")"
	}
	return name
}

func displayValue(v any) string {
	switch v.(type) {
	case []KV, []any:
		b, _ := json.Marshal(plain(v))
		return string(b)
	}
	return FormatScalar(v)
}

// plain converts a raw tree to maps/slices for JSON and expr.FromGo (order
// of objects lost).
func plain(v any) any {
	switch v := v.(type) {
	case []KV:
		m := make(map[string]any, len(v))
		for _, kv := range v {
			m[kv.Key] = plain(kv.Value)
		}
		return m
	case Combination:
		return plain([]KV(v))
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = plain(e)
		}
		return out
	}
	return v
}

// ExpandMatrix expands an evaluated matrix (an object as []KV whose values
// are arrays, plus optional include and exclude lists of objects) with
// GitHub's algorithm:
//
//  1. the cartesian product of the vectors, first key varying slowest;
//  2. exclude removes every combination an entry partially matches (object
//     values match partially too, recursively); an exclude key that is not a
//     vector is an error;
//  3. each include entry is merged into every remaining combination whose
//     original matrix values it does not change (values added by earlier
//     includes may be overwritten); an entry merged nowhere becomes a new
//     combination. With no vectors, every include entry is a combination.
//
// It fails for a missing or empty matrix, an empty vector, a non-array
// vector, malformed include/exclude, or more than MaxCombinations results.
func ExpandMatrix(m any) ([]Combination, error) {
	obj, ok := m.([]KV)
	if !ok {
		return nil, fmt.Errorf("matrix must be an object, got %s", typeName(m))
	}
	var keys []string
	var vectors [][]any
	var include, exclude []Combination
	for _, kv := range obj {
		var err error
		switch kv.Key {
		case "include":
			include, err = objectList("include", kv.Value)
		case "exclude":
			exclude, err = objectList("exclude", kv.Value)
		default:
			vec, ok := kv.Value.([]any)
			if !ok {
				return nil, fmt.Errorf("matrix vector %q must be an array, got %s", kv.Key, typeName(kv.Value))
			}
			if len(vec) == 0 {
				return nil, fmt.Errorf("matrix vector %q does not contain any values", kv.Key)
			}
			keys, vectors = append(keys, kv.Key), append(vectors, vec)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(keys) == 0 && len(include) == 0 {
		return nil, fmt.Errorf("matrix must define at least one vector or include entry")
	}
	combos, err := product(keys, vectors)
	if err != nil {
		return nil, err
	}
	if err := checkExcludeKeys(keys, exclude); err != nil {
		return nil, err
	}
	combos = applyExclude(combos, exclude)
	combos = applyInclude(combos, keys, include)
	if len(combos) > MaxCombinations {
		return nil, fmt.Errorf("matrix generates %d combinations, more than the limit of %d", len(combos), MaxCombinations)
	}
	return combos, nil
}

// maxProduct bounds the work before exclude shrinks the product.
const maxProduct = 1 << 16

// product builds the cartesian product; no keys gives no combination.
func product(keys []string, vectors [][]any) ([]Combination, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	total := 1
	for _, v := range vectors {
		total *= len(v)
		if total > maxProduct {
			return nil, fmt.Errorf("matrix generates more than %d combinations before exclude (limit %d)", maxProduct, MaxCombinations)
		}
	}
	combos := []Combination{{}}
	for i, k := range keys {
		next := make([]Combination, 0, len(combos)*len(vectors[i]))
		for _, c := range combos {
			for _, v := range vectors[i] {
				nc := append(Combination{}, c...)
				next = append(next, append(nc, KV{Key: k, Value: v}))
			}
		}
		combos = next
	}
	return combos, nil
}

func applyExclude(combos, exclude []Combination) []Combination {
	out := combos[:0:0]
	for _, c := range combos {
		if !slicesAny(exclude, func(e Combination) bool { return partialMatch(c, e) }) {
			out = append(out, c)
		}
	}
	return out
}

// partialMatch reports whether every key of e is in c with a matching value.
func partialMatch(c, e Combination) bool {
	for _, kv := range e {
		v, ok := c.Get(kv.Key)
		if !ok || !subsetMatch(v, kv.Value) {
			return false
		}
	}
	return true
}

// subsetMatch matches an exclude value against a combination value: objects
// match partially (recursively), anything else must be equal.
func subsetMatch(v, filter any) bool {
	fo, ok := filter.([]KV)
	if !ok {
		return reflect.DeepEqual(v, filter)
	}
	vo, ok := v.([]KV)
	return ok && partialMatch(Combination(vo), Combination(fo))
}

// checkExcludeKeys rejects exclude entries naming a key that is not a
// vector of the matrix, as GitHub does.
func checkExcludeKeys(keys []string, exclude []Combination) error {
	for _, e := range exclude {
		for _, kv := range e {
			if !slicesAny(keys, func(k string) bool { return k == kv.Key }) {
				return fmt.Errorf("matrix exclude key %q does not match any key within the matrix", kv.Key)
			}
		}
	}
	return nil
}

func applyInclude(combos []Combination, keys []string, include []Combination) []Combination {
	base := len(combos)
	for _, inc := range include {
		merged := false
		for i := 0; i < base; i++ {
			if compatible(combos[i], keys, inc) {
				for _, kv := range inc {
					combos[i] = combos[i].set(kv.Key, kv.Value)
				}
				merged = true
			}
		}
		if !merged {
			combos = append(combos, append(Combination{}, inc...))
		}
	}
	return combos
}

// compatible reports whether inc changes none of c's original matrix values.
func compatible(c Combination, keys []string, inc Combination) bool {
	for _, kv := range inc {
		for _, k := range keys {
			if k == kv.Key {
				v, _ := c.Get(k)
				if !reflect.DeepEqual(v, kv.Value) {
					return false
				}
			}
		}
	}
	return true
}

func objectList(what string, v any) ([]Combination, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("matrix %s must be an array of objects, got %s", what, typeName(v))
	}
	out := make([]Combination, 0, len(arr))
	for i, e := range arr {
		obj, ok := e.([]KV)
		if !ok {
			return nil, fmt.Errorf("matrix %s entry %d must be an object, got %s", what, i, typeName(e))
		}
		out = append(out, Combination(obj))
	}
	return out, nil
}

func slicesAny[T any](s []T, f func(T) bool) bool {
	for _, e := range s {
		if f(e) {
			return true
		}
	}
	return false
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []KV:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}
