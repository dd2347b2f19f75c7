package expr

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
)

// FromGo converts a Go value into a Value: nil, bool, string, every integer
// and float type, json.Number, []any, []string, map[string]any,
// map[string]string (Go maps have no order: keys are sorted), Value,
// *Array, *Object, and through reflection other slices and string-keyed
// maps. Anything else goes through encoding/json, or becomes its fmt
// string when it cannot be marshalled. Values nested deeper than 1000
// (for example a slice that contains itself) are cut off as null.
func FromGo(x any) Value { return fromGo(x, 0) }

func fromGo(x any, depth int) Value {
	if depth > maxJSONDepth {
		return Null
	}
	depth++
	switch t := x.(type) {
	case nil:
		return Null
	case Value:
		return t
	case *Value:
		if t == nil {
			return Null
		}
		return *t
	case *Array:
		return ArrayValue(t)
	case *Object:
		return ObjectValue(t)
	case bool:
		return BoolValue(t)
	case string:
		return StringValue(t)
	case float64:
		return NumberValue(t)
	case float32:
		return NumberValue(float64(t))
	case int:
		return NumberValue(float64(t))
	case int64:
		return NumberValue(float64(t))
	case int32:
		return NumberValue(float64(t))
	case uint64:
		return NumberValue(float64(t))
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil && !isRangeErr(err) {
			return StringValue(string(t))
		}
		return NumberValue(f)
	case []any:
		a := &Array{items: make([]Value, len(t))}
		for i, e := range t {
			a.items[i] = fromGo(e, depth)
		}
		return ArrayValue(a)
	case []string:
		a := &Array{items: make([]Value, len(t))}
		for i, e := range t {
			a.items[i] = StringValue(e)
		}
		return ArrayValue(a)
	case map[string]any:
		o := NewObject()
		for _, k := range sortedKeys(t) {
			o.Set(k, fromGo(t[k], depth))
		}
		return ObjectValue(o)
	case map[string]string:
		o := NewObject()
		for _, k := range sortedKeys(t) {
			o.Set(k, StringValue(t[k]))
		}
		return ObjectValue(o)
	}
	return fromReflect(reflect.ValueOf(x), depth)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func fromReflect(rv reflect.Value, depth int) Value {
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return NumberValue(float64(rv.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return NumberValue(float64(rv.Uint()))
	case reflect.Float32, reflect.Float64:
		return NumberValue(rv.Float())
	case reflect.Bool:
		return BoolValue(rv.Bool())
	case reflect.String:
		return StringValue(rv.String())
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return Null
		}
		return fromGo(rv.Elem().Interface(), depth)
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return Null
		}
		a := &Array{items: make([]Value, rv.Len())}
		for i := range a.items {
			a.items[i] = fromGo(rv.Index(i).Interface(), depth)
		}
		return ArrayValue(a)
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String {
			return fromMap(rv, depth)
		}
	}
	return fromMarshal(rv.Interface())
}

func fromMap(rv reflect.Value, depth int) Value {
	keys := make([]string, 0, rv.Len())
	for _, k := range rv.MapKeys() {
		keys = append(keys, k.String())
	}
	sort.Strings(keys)
	o := NewObject()
	for _, k := range keys {
		o.Set(k, fromGo(rv.MapIndex(reflect.ValueOf(k).Convert(rv.Type().Key())).Interface(), depth))
	}
	return ObjectValue(o)
}

func fromMarshal(x any) Value {
	data, err := json.Marshal(x)
	if err != nil {
		return StringValue(fmt.Sprint(x))
	}
	v, err := FromJSON(data)
	if err != nil {
		return StringValue(fmt.Sprint(x))
	}
	return v
}

// ToGo converts v into plain Go values: nil, bool, float64, string, []any
// and map[string]any (the map loses key order; use MarshalJSON to keep it).
func ToGo(v Value) any {
	switch v.kind {
	case KindBool:
		return v.b
	case KindNumber:
		return v.num
	case KindString:
		return v.str
	case KindArray:
		out := make([]any, len(v.arr.items))
		for i, e := range v.arr.items {
			out[i] = ToGo(e)
		}
		return out
	case KindObject:
		out := make(map[string]any, len(v.obj.keys))
		for i, k := range v.obj.keys {
			out[k] = ToGo(v.obj.vals[i])
		}
		return out
	}
	return nil
}
