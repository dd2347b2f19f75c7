package expr

import (
	"math"
	"strings"
)

// funcInfo describes a built-in function: its arity (checked when
// parsing) and its implementation, which evaluates its own arguments (so
// case() can be lazy).
type funcInfo struct {
	name     string
	min, max int
	odd      bool // requires an odd number of arguments (case)
	status   bool // a status function: success, failure, cancelled, always
	call     func(ev *evaluator, args []node) (Value, error)
}

const maxArgs = 255

var funcs map[string]*funcInfo

func init() {
	list := []*funcInfo{
		{name: "contains", min: 2, max: 2, call: strict(fnContains)},
		{name: "startswith", min: 2, max: 2, call: strict(fnStartsWith)},
		{name: "endswith", min: 2, max: 2, call: strict(fnEndsWith)},
		{name: "format", min: 1, max: maxArgs, call: strict(fnFormat)},
		{name: "join", min: 1, max: 2, call: strict(fnJoin)},
		{name: "tojson", min: 1, max: 1, call: strict(fnToJSON)},
		{name: "fromjson", min: 1, max: 1, call: strict(fnFromJSON)},
		{name: "hashfiles", min: 1, max: maxArgs, call: strict(fnHashFiles)},
		{name: "case", min: 3, max: math.MaxInt, odd: true, call: fnCase},
		{name: "success", status: true, call: statusFunc(JobSuccess)},
		{name: "failure", status: true, call: statusFunc(JobFailure)},
		{name: "cancelled", status: true, call: statusFunc(JobCancelled)},
		{name: "always", status: true, call: func(*evaluator, []node) (Value, error) { return BoolValue(true), nil }},
	}
	funcs = make(map[string]*funcInfo, len(list))
	for _, f := range list {
		funcs[f.name] = f
	}
}

// lookupFunc finds a built-in function by case-insensitive name.
func lookupFunc(name string) *funcInfo {
	return funcs[strings.ToLower(name)]
}

// strict adapts a function of evaluated arguments.
func strict(f func(ev *evaluator, args []Value) (Value, error)) func(*evaluator, []node) (Value, error) {
	return func(ev *evaluator, nodes []node) (Value, error) {
		var buf [4]Value
		args := buf[:0]
		for _, n := range nodes {
			v, err := ev.eval(n)
			if err != nil {
				return Null, err
			}
			args = append(args, v)
		}
		return f(ev, args)
	}
}

func statusFunc(want JobStatus) func(*evaluator, []node) (Value, error) {
	return func(ev *evaluator, _ []node) (Value, error) {
		return BoolValue(ev.env.status() == want), nil
	}
}

func fnContains(_ *evaluator, a []Value) (Value, error) {
	search, item := a[0], a[1]
	switch {
	case search.primitive() && item.primitive():
		return BoolValue(strings.Contains(foldString(String(search)), foldString(String(item)))), nil
	case search.kind == KindArray:
		for _, v := range search.arr.items {
			if Equal(item, v) {
				return BoolValue(true), nil
			}
		}
	}
	return BoolValue(false), nil
}

func fnStartsWith(_ *evaluator, a []Value) (Value, error) {
	if !a[0].primitive() || !a[1].primitive() {
		return BoolValue(false), nil
	}
	return BoolValue(strings.HasPrefix(foldString(String(a[0])), foldString(String(a[1])))), nil
}

func fnEndsWith(_ *evaluator, a []Value) (Value, error) {
	if !a[0].primitive() || !a[1].primitive() {
		return BoolValue(false), nil
	}
	return BoolValue(strings.HasSuffix(foldString(String(a[0])), foldString(String(a[1])))), nil
}

func fnJoin(ev *evaluator, a []Value) (Value, error) {
	if a[0].primitive() {
		return StringValue(String(a[0])), nil
	}
	if a[0].kind != KindArray {
		return StringValue(""), nil
	}
	sep := ","
	if len(a) > 1 && a[1].primitive() {
		sep = String(a[1])
	}
	var b strings.Builder
	for i, v := range a[0].arr.items {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(String(v))
		if b.Len() > MaxMemory {
			break
		}
	}
	if err := ev.charge(b.Len()); err != nil {
		return Null, err
	}
	return StringValue(b.String()), nil
}

func fnToJSON(ev *evaluator, a []Value) (Value, error) {
	s := ToJSON(a[0])
	if err := ev.charge(len(s)); err != nil {
		return Null, err
	}
	return StringValue(s), nil
}

func fnFromJSON(ev *evaluator, a []Value) (Value, error) {
	s := String(a[0])
	if strings.TrimFunc(s, isJSSpace) == "" {
		return Null, ev.errorf("Error parsing JSON when evaluating fromJson: empty input", nil)
	}
	v, err := FromJSON([]byte(s))
	if err != nil {
		return Null, ev.errorf("Error parsing JSON when evaluating fromJson: "+err.Error(), err)
	}
	if err := ev.charge(len(s)); err != nil {
		return Null, err
	}
	return v, nil
}

func fnHashFiles(ev *evaluator, a []Value) (Value, error) {
	if ev.env == nil || ev.env.HashFiles == nil {
		return Null, ev.errorf("hashFiles is not available in this context", nil)
	}
	patterns := make([]string, len(a))
	for i, v := range a {
		patterns[i] = String(v)
	}
	h, err := ev.env.HashFiles(patterns)
	if err != nil {
		return Null, ev.errorf("hashFiles('"+strings.Join(patterns, "', '")+"') failed: "+err.Error(), err)
	}
	return StringValue(h), nil
}

// fnCase evaluates predicate/value pairs in order and returns the value of
// the first true predicate, else the last argument (the default).
func fnCase(ev *evaluator, args []node) (Value, error) {
	for i := 0; i+1 < len(args); i += 2 {
		p, err := ev.eval(args[i])
		if err != nil {
			return Null, err
		}
		if p.kind != KindBool {
			return Null, ev.errorf("case predicate must evaluate to a boolean value", nil)
		}
		if p.b {
			return ev.eval(args[i+1])
		}
	}
	return ev.eval(args[len(args)-1])
}
