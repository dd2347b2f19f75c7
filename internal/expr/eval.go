package expr

import (
	"fmt"
	"math"
)

// Evaluate parses src (an expression as written inside `${{ }}`) and
// evaluates it against env. The expression may reference only the contexts
// present in env.Contexts.
func Evaluate(src string, env *Env) (Value, error) {
	e, err := env.parse(src)
	if err != nil {
		return Null, err
	}
	return e.Evaluate(env)
}

// Evaluate evaluates the parsed expression against env (nil: no contexts).
// Errors are *Error of kind ErrEvaluation.
func (e *Expr) Evaluate(env *Env) (Value, error) {
	if e.root == nil {
		return Null, nil
	}
	ev := &evaluator{env: env, src: e.src}
	return ev.eval(e.root)
}

type evaluator struct {
	env  *Env
	src  string
	used int // bytes charged against MaxMemory
}

func (ev *evaluator) errorf(msg string, cause error) *Error {
	return &Error{Kind: ErrEvaluation, Message: msg, Expr: ev.src, Err: cause}
}

// charge accounts n bytes of produced data against MaxMemory.
func (ev *evaluator) charge(n int) error {
	ev.used += n
	if ev.used > MaxMemory {
		return ev.errorf("The maximum allowed memory size was exceeded while evaluating the following expression: "+ev.src, nil)
	}
	return nil
}

func (ev *evaluator) eval(n node) (Value, error) {
	switch n := n.(type) {
	case *literalNode:
		return n.v, nil
	case *contextNode:
		return ev.env.lookup(n.name), nil
	case *notNode:
		x, err := ev.eval(n.x)
		return BoolValue(!Truthy(x)), err
	case *binaryNode:
		return ev.binary(n)
	case *logicalNode:
		return ev.logical(n)
	case *indexNode:
		return ev.index(n)
	case *callNode:
		return n.fn.call(ev, n.args)
	}
	return Null, ev.errorf(fmt.Sprintf("internal error: unknown node %T", n), nil) // unreachable: the parser builds only the types above
}

func (ev *evaluator) binary(n *binaryNode) (Value, error) {
	l, err := ev.eval(n.l)
	if err != nil {
		return Null, err
	}
	r, err := ev.eval(n.r)
	if err != nil {
		return Null, err
	}
	var b bool
	switch n.op {
	case tEq:
		b = Equal(l, r)
	case tNe:
		b = !Equal(l, r)
	case tLt:
		b = lessThan(l, r)
	case tLe:
		b = Equal(l, r) || lessThan(l, r)
	case tGt:
		b = greaterThan(l, r)
	case tGe:
		b = Equal(l, r) || greaterThan(l, r)
	}
	return BoolValue(b), nil
}

// logical returns the first operand that decides the result (falsy for &&,
// truthy for ||), or the last one.
func (ev *evaluator) logical(n *logicalNode) (Value, error) {
	var v Value
	for _, a := range n.args {
		var err error
		if v, err = ev.eval(a); err != nil {
			return Null, err
		}
		if Truthy(v) == n.or {
			break
		}
	}
	return v, nil
}

// indexKey is an index value in the forms arrays and objects need.
type indexKey struct {
	star   bool
	str    string
	hasStr bool    // a primitive index: objects look up its string form
	num    float64 // floor of a finite, non-negative numeric form
	hasNum bool
}

func makeIndexKey(v Value) indexKey {
	var k indexKey
	if v.primitive() {
		k.str, k.hasStr = String(v), true
	}
	if f := toNumber(v); !math.IsNaN(f) && !math.IsInf(f, 0) && f >= 0 {
		k.num, k.hasNum = math.Floor(f), true
	}
	return k
}

func (ev *evaluator) index(n *indexNode) (Value, error) {
	x, err := ev.eval(n.x)
	if err != nil {
		return Null, err
	}
	k := indexKey{star: n.idx == nil}
	if n.idx != nil {
		iv, err := ev.eval(n.idx)
		if err != nil {
			return Null, err
		}
		k = makeIndexKey(iv)
	}
	switch x.kind {
	case KindArray:
		if x.arr.filtered {
			return ev.filteredAccess(x.arr, k)
		}
		if k.star {
			return ev.filter(x.arr.items)
		}
		if k.hasNum && k.num < float64(len(x.arr.items)) {
			return x.arr.items[int(k.num)], nil
		}
		return Null, nil
	case KindObject:
		if k.star {
			return ev.filter(x.obj.vals)
		}
		if k.hasStr {
			v, _ := x.obj.Get(k.str)
			return v, nil
		}
		return Null, nil
	}
	if k.star {
		return ArrayValue(&Array{filtered: true}), nil
	}
	return Null, nil
}

// filter returns a filtered array (the result of `.*`) holding items.
func (ev *evaluator) filter(items []Value) (Value, error) {
	if err := ev.charge(16 * len(items)); err != nil {
		return Null, err
	}
	return ArrayValue(&Array{items: append([]Value(nil), items...), filtered: true}), nil
}

// filteredAccess applies an index to every item of a filtered array,
// keeping only the items where it finds something.
func (ev *evaluator) filteredAccess(fa *Array, k indexKey) (Value, error) {
	out := &Array{filtered: true}
	for _, item := range fa.items {
		switch item.kind {
		case KindObject:
			if k.star {
				out.items = append(out.items, item.obj.vals...)
			} else if k.hasStr {
				if v, ok := item.obj.Get(k.str); ok {
					out.items = append(out.items, v)
				}
			}
		case KindArray:
			if k.star {
				out.items = append(out.items, item.arr.items...)
			} else if k.hasNum && k.num < float64(len(item.arr.items)) {
				out.items = append(out.items, item.arr.items[int(k.num)])
			}
		}
	}
	if err := ev.charge(16 * len(out.items)); err != nil {
		return Null, err
	}
	return ArrayValue(out), nil
}
