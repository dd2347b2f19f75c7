package expr

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFormatNumber(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "0"}, {1, "1"}, {-1, "-1"}, {0.5, "0.5"}, {1.9, "1.9"},
		{123456.789, "123456.789"}, {0.84551240822557006, "0.84551240822557"},
		{120, "120"}, {0.012, "0.012"}, {0.0001, "0.0001"}, {0.00001, "1E-05"},
		{123456789012345, "123456789012345"}, {1e15, "1E+15"}, {1234567890123456, "1.23456789012346E+15"},
		{1.5e300, "1.5E+300"}, {-2.5e-7, "-2.5E-07"}, {0.1 + 0.2, "0.3"},
		{math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"}, {math.NaN(), "NaN"},
	}
	for _, tt := range tests {
		if got := FormatNumber(tt.in); got != tt.want {
			t.Errorf("FormatNumber(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in   string
		want float64
	}{
		{"", 0}, {"  ", 0}, {" 12 ", 12}, {"+1.5", 1.5}, {"-.5", -0.5}, {"5.", 5}, {"1e3", 1000},
		{"1E-2", 0.01}, {"0x1F", 31}, {"0XfF", 255}, {"0o17", 15}, {"0b101", 5},
		{"Infinity", math.Inf(1)}, {"-Infinity", math.Inf(-1)}, {"1e999", math.Inf(1)},
		{"0xFFFFFFFFFFFFFFFFFF", 4722366482869645213696},
		{"abc", math.NaN()}, {"1_000", math.NaN()}, {"-0x1", math.NaN()}, {"0x", math.NaN()},
		{"inf", math.NaN()}, {"NaN", math.NaN()}, {"1e", math.NaN()}, {".", math.NaN()}, {"1 2", math.NaN()},
	}
	for _, tt := range tests {
		got := ParseNumber(tt.in)
		if got != tt.want && !(math.IsNaN(got) && math.IsNaN(tt.want)) {
			t.Errorf("ParseNumber(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestObjectOrderAndCase(t *testing.T) {
	o := NewObject()
	for i, k := range []string{"zeta", "Alpha", "mid", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"} {
		o.Set(k, NumberValue(float64(i)))
	}
	o.Set("ALPHA", StringValue("replaced"))
	if v, ok := o.Get("alpha"); !ok || v.AsString() != "replaced" {
		t.Errorf("Get(alpha) = %v, %v; want replaced", v, ok)
	}
	if v, ok := o.Get("A8"); !ok || v.AsNumber() != 10 {
		t.Errorf("Get(A8) = %v, %v; want 10", v, ok)
	}
	if _, ok := o.Get("nope"); ok {
		t.Error("Get(nope) found something")
	}
	want := []string{"zeta", "Alpha", "mid", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"}
	if diff := cmp.Diff(want, o.Keys()); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	got, _ := ObjectValue(o).MarshalJSON()
	if wantJSON := `{"zeta":0,"Alpha":"replaced","mid":2,"a1":3,"a2":4,"a3":5,"a4":6,"a5":7,"a6":8,"a7":9,"a8":10}`; string(got) != wantJSON {
		t.Errorf("MarshalJSON = %s, want %s", got, wantJSON)
	}
}

func TestFromGoToGo(t *testing.T) {
	type payload struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	in := map[string]any{
		"s":      "x",
		"b":      true,
		"i":      int64(-3),
		"u":      uint8(7),
		"f":      1.5,
		"num":    json.Number("12"),
		"nil":    nil,
		"list":   []any{1, "two"},
		"strs":   []string{"a", "b"},
		"env":    map[string]string{"B": "2", "A": "1"},
		"ints":   []int{4, 5},
		"struct": payload{Name: "p", N: 2},
	}
	v := FromGo(in)
	gotJSON, _ := v.MarshalJSON()
	wantJSON := `{"b":true,"env":{"A":"1","B":"2"},"f":1.5,"i":-3,"ints":[4,5],"list":[1,"two"],"nil":null,"num":12,"s":"x","strs":["a","b"],"struct":{"name":"p","n":2},"u":7}`
	if string(gotJSON) != wantJSON {
		t.Errorf("FromGo JSON =\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	back := ToGo(v)
	want := map[string]any{
		"s": "x", "b": true, "i": -3.0, "u": 7.0, "f": 1.5, "num": 12.0, "nil": nil,
		"list": []any{1.0, "two"}, "strs": []any{"a", "b"}, "env": map[string]any{"A": "1", "B": "2"},
		"ints": []any{4.0, 5.0}, "struct": map[string]any{"name": "p", "n": 2.0},
	}
	if diff := cmp.Diff(want, back); diff != "" {
		t.Errorf("ToGo (-want +got):\n%s", diff)
	}
}

func TestFromJSONErrors(t *testing.T) {
	for _, in := range []string{"", "{", "[1,]", "1 2", `{"a" 1}`, "nul"} {
		if _, err := FromJSON([]byte(in)); err == nil {
			t.Errorf("FromJSON(%q): want an error", in)
		}
	}
}

func TestToJSONEscaping(t *testing.T) {
	v := NewArrayValue(StringValue("a\"b\\c\n\t\x01<&>é\u2028"), NumberValue(1e21), NumberValue(0.1), NumberValue(math.Copysign(0, -1)), NumberValue(1e-7))
	want := "[\n  \"a\\\"b\\\\c\\n\\t\\u0001<&>é\\u2028\",\n  1E+21,\n  0.1,\n  0,\n  1E-07\n]"
	if got := ToJSON(v); got != want {
		t.Errorf("ToJSON = %q, want %q", got, want)
	}
}

func TestValueAccessors(t *testing.T) {
	if !Null.IsNull() || Null.Kind() != KindNull || String(Null) != "" {
		t.Error("zero Value is not null")
	}
	if ArrayValue(nil) != Null || ObjectValue(nil) != Null {
		t.Error("nil collections should give null")
	}
	a := NewArray(NumberValue(1))
	a.Append(StringValue("x"))
	if a.Len() != 2 || a.At(1).AsString() != "x" || !a.At(5).IsNull() {
		t.Errorf("array = %v", ToJSON(ArrayValue(a)))
	}
	var v Value
	if err := json.Unmarshal([]byte(`{"k":[1,{"x":null}]}`), &v); err != nil || v.Kind() != KindObject {
		t.Fatalf("UnmarshalJSON: %v %v", v, err)
	}
	if got := KindObject.String() + KindBool.String(); got != "ObjectBoolean" {
		t.Errorf("kind names = %q", got)
	}
}

func TestFromGoCycle(t *testing.T) {
	cyc := []any{nil}
	cyc[0] = cyc
	v := FromGo(cyc) // must terminate
	if v.Kind() != KindArray {
		t.Errorf("kind = %v, want Array", v.Kind())
	}
}
