package expr

import "fmt"

// Kind is the type of a Value.
type Kind uint8

// The six kinds of value the expression language knows.
const (
	KindNull Kind = iota
	KindBool
	KindNumber
	KindString
	KindArray
	KindObject
)

// String returns GitHub's name for the kind: Null, Boolean, Number, String, Array, Object.
func (k Kind) String() string {
	switch k {
	case KindNull:
		return "Null"
	case KindBool:
		return "Boolean"
	case KindNumber:
		return "Number"
	case KindString:
		return "String"
	case KindArray:
		return "Array"
	case KindObject:
		return "Object"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Value is an immutable JSON-like value: null, boolean, number (float64),
// string, array or object. The zero Value is null. Arrays and objects are
// held by reference: two Values compare equal (==) only when they refer to
// the same *Array or *Object, which is also GitHub's equality for them.
type Value struct {
	kind Kind
	b    bool
	num  float64
	str  string
	arr  *Array
	obj  *Object
}

// Null is the null value.
var Null = Value{}

// BoolValue returns a boolean value.
func BoolValue(b bool) Value { return Value{kind: KindBool, b: b} }

// NumberValue returns a number value.
func NumberValue(f float64) Value { return Value{kind: KindNumber, num: f} }

// StringValue returns a string value.
func StringValue(s string) Value { return Value{kind: KindString, str: s} }

// ArrayValue wraps an array; a nil *Array gives null.
func ArrayValue(a *Array) Value {
	if a == nil {
		return Null
	}
	return Value{kind: KindArray, arr: a}
}

// ObjectValue wraps an object; a nil *Object gives null.
func ObjectValue(o *Object) Value {
	if o == nil {
		return Null
	}
	return Value{kind: KindObject, obj: o}
}

// NewArrayValue returns an array value holding vals.
func NewArrayValue(vals ...Value) Value { return ArrayValue(NewArray(vals...)) }

// Kind reports the value's kind.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is null.
func (v Value) IsNull() bool { return v.kind == KindNull }

// AsBool returns the boolean held by a Boolean value (false for other kinds;
// use Truthy for GitHub's truthiness).
func (v Value) AsBool() bool { return v.kind == KindBool && v.b }

// AsNumber returns the number held by a Number value (0 for other kinds).
func (v Value) AsNumber() float64 {
	if v.kind != KindNumber {
		return 0
	}
	return v.num
}

// AsString returns the string held by a String value ("" for other kinds;
// use String for GitHub's coercion).
func (v Value) AsString() string {
	if v.kind != KindString {
		return ""
	}
	return v.str
}

// Array returns the array of an Array value, nil for other kinds.
func (v Value) Array() *Array { return v.arr }

// Object returns the object of an Object value, nil for other kinds.
func (v Value) Object() *Object { return v.obj }

// primitive reports whether v is null, boolean, number or string.
func (v Value) primitive() bool { return v.kind <= KindString }

// String returns v coerced to a string (see the package function String).
func (v Value) String() string { return String(v) }

// Array is an ordered list of values. Build it before sharing it: the
// evaluator never mutates arrays it did not create.
type Array struct {
	items    []Value
	filtered bool // result of a `.*` / `[*]` filter: further indexing maps over items
}

// NewArray returns an array holding vals.
func NewArray(vals ...Value) *Array { return &Array{items: vals} }

// Len returns the number of items.
func (a *Array) Len() int { return len(a.items) }

// At returns item i, or null when i is out of range.
func (a *Array) At(i int) Value {
	if i < 0 || i >= len(a.items) {
		return Null
	}
	return a.items[i]
}

// Append adds items at the end.
func (a *Array) Append(vals ...Value) { a.items = append(a.items, vals...) }

// Values returns the items (the caller must not modify the slice).
func (a *Array) Values() []Value { return a.items }

// Object is a map from string keys to values that keeps insertion order (toJSON
// output depends on it) and looks keys up case-insensitively, as GitHub does.
type Object struct {
	keys  []string
	vals  []Value
	index map[string]int // folded key → position; built once the object grows
}

const objectIndexThreshold = 8

// NewObject returns an empty object.
func NewObject() *Object { return &Object{} }

// Len returns the number of entries.
func (o *Object) Len() int { return len(o.keys) }

// Keys returns the keys in insertion order (the caller must not modify the slice).
func (o *Object) Keys() []string { return o.keys }

// Values returns the values in insertion order (the caller must not modify the slice).
func (o *Object) Values() []Value { return o.vals }

// Set adds key, or replaces the value of the entry whose key equals key
// case-insensitively (keeping that entry's position and spelling).
func (o *Object) Set(key string, v Value) {
	if i := o.find(key); i >= 0 {
		o.vals[i] = v
		return
	}
	o.keys = append(o.keys, key)
	o.vals = append(o.vals, v)
	if o.index != nil {
		o.index[foldString(key)] = len(o.keys) - 1
	} else if len(o.keys) > objectIndexThreshold {
		o.buildIndex()
	}
}

// Get returns the value for key, matched case-insensitively.
func (o *Object) Get(key string) (Value, bool) {
	if i := o.find(key); i >= 0 {
		return o.vals[i], true
	}
	return Null, false
}

// Range calls f for each entry in order until f returns false.
func (o *Object) Range(f func(key string, v Value) bool) {
	for i, k := range o.keys {
		if !f(k, o.vals[i]) {
			return
		}
	}
}

func (o *Object) find(key string) int {
	if o.index != nil {
		if i, ok := o.index[foldString(key)]; ok {
			return i
		}
		return -1
	}
	for i, k := range o.keys {
		if equalFold(k, key) {
			return i
		}
	}
	return -1
}

func (o *Object) buildIndex() {
	o.index = make(map[string]int, len(o.keys))
	for i, k := range o.keys {
		o.index[foldString(k)] = i
	}
}
