package expr

import "strings"

// ContainsExpression reports whether s contains a `${{` expression opener.
func ContainsExpression(s string) bool { return strings.Contains(s, "${{") }

// segment is a piece of a template: literal text, or an expression.
type segment struct {
	text   string
	isExpr bool
}

// splitTemplate cuts s into literal text and `${{ expr }}` bodies. The
// closing `}}` is searched outside single-quoted string literals, so
// `${{ format('}}') }}` is one expression.
func splitTemplate(s string) ([]segment, error) {
	var segs []segment
	for {
		i := strings.Index(s, "${{")
		if i < 0 {
			if s != "" {
				segs = append(segs, segment{text: s})
			}
			return segs, nil
		}
		if i > 0 {
			segs = append(segs, segment{text: s[:i]})
		}
		body := s[i+3:]
		end := closingBraces(body)
		if end < 0 {
			return nil, &Error{Kind: ErrParsing, Expr: s[i:],
				Message: "The expression is not closed. An unescaped ${{ sequence was found, but the closing }} sequence was not found."}
		}
		segs = append(segs, segment{text: body[:end], isExpr: true})
		s = body[end+2:]
	}
}

// closingBraces returns the offset of the first `}}` outside a string literal.
func closingBraces(body string) int {
	inString := false
	for j := 0; j < len(body); j++ {
		switch {
		case body[j] == '\'':
			inString = !inString // '' escapes toggle twice
		case !inString && body[j] == '}' && j+1 < len(body) && body[j+1] == '}':
			return j
		}
	}
	return -1
}

// ParseTemplate parses every `${{ }}` expression in s without evaluating
// anything (for validating a workflow before it runs, or finding which
// contexts a value uses). allowedContexts is as for Parse (empty: any). It returns the
// expressions in order; none when s holds no expression.
func ParseTemplate(s string, allowedContexts []string) ([]*Expr, error) {
	if !ContainsExpression(s) {
		return nil, nil
	}
	segs, err := splitTemplate(s)
	if err != nil {
		return nil, err
	}
	var out []*Expr
	for _, seg := range segs {
		if seg.isExpr {
			e, err := Parse(seg.text, allowedContexts)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// templateString converts an interpolated result: null → "", booleans and
// numbers as String does, arrays and objects as JSON.
func templateString(v Value) string {
	if v.kind == KindArray || v.kind == KindObject {
		return ToJSON(v)
	}
	return String(v)
}

// Interpolate replaces every `${{ expr }}` in s (a YAML string value) with
// the string form of its value: null → "", true/false, numbers formatted
// as GitHub does, arrays and objects as JSON. Text without expressions is
// returned unchanged. Errors are *Error.
func Interpolate(s string, env *Env) (string, error) {
	if !ContainsExpression(s) {
		return s, nil
	}
	segs, err := splitTemplate(s)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, seg := range segs {
		if !seg.isExpr {
			b.WriteString(seg.text)
			continue
		}
		e, err := env.parse(seg.text)
		if err != nil {
			return "", err
		}
		v, err := e.Evaluate(env)
		if err != nil {
			return "", err
		}
		b.WriteString(templateString(v))
		if b.Len() > MaxMemory {
			return "", &Error{Kind: ErrEvaluation, Expr: seg.text, Message: "The maximum allowed memory size was exceeded while evaluating the following expression: " + seg.text}
		}
	}
	return b.String(), nil
}

// WholeExpression returns the body when s, ignoring surrounding
// whitespace, is exactly one `${{ }}` expression (as for
// runs-on: ${{ matrix.os }}); the closing `}}` is found as Interpolate finds
// it, outside string literals.
func WholeExpression(s string) (string, bool) {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "${{") {
		return "", false
	}
	body := t[3:]
	end := closingBraces(body)
	if end < 0 || end+2 != len(body) {
		return "", false
	}
	return body[:end], true
}

// EvaluateValue evaluates a YAML scalar that may hold expressions: when s is
// exactly one `${{ }}` (surrounding whitespace allowed), the expression's
// typed value is returned (a number, boolean, object…); otherwise the
// interpolated string. Used for matrix, continue-on-error,
// timeout-minutes, with: and similar keys.
func EvaluateValue(s string, env *Env) (Value, error) {
	if body, ok := WholeExpression(s); ok {
		return Evaluate(body, env)
	}
	str, err := Interpolate(s, env)
	if err != nil {
		return Null, err
	}
	return StringValue(str), nil
}

// EvaluateIf evaluates an `if:` condition with GitHub's semantics. The
// condition may be a bare expression or wrapped in `${{ }}`; when it calls
// none of success(), failure(), cancelled() and always(), it is evaluated as
// `success() && (cond)`. The result is the truthiness of the value. An empty
// condition means success(). A condition mixing text and `${{ }}` is a
// string, true when not empty (GitHub's well-known pitfall).
func EvaluateIf(cond string, env *Env) (bool, error) {
	body, ok := WholeExpression(cond)
	if !ok {
		body = cond
		if ContainsExpression(cond) {
			return evaluateIfTemplate(cond, env)
		}
	}
	e, err := env.parse(body)
	if err != nil {
		return false, err
	}
	if e.root == nil || !e.usesStatus {
		if env.status() != JobSuccess {
			return false, nil
		}
		if e.root == nil {
			return true, nil
		}
	}
	v, err := e.Evaluate(env)
	if err != nil {
		return false, err
	}
	return Truthy(v), nil
}

// IfUsesStatus reports whether an `if:` condition (bare, wrapped in
// `${{ }}`, or text mixing `${{ }}`) calls success(), failure(), cancelled()
// or always(), parsing it as EvaluateIf does but with any context allowed.
// An empty condition calls none.
func IfUsesStatus(cond string) (bool, error) {
	body, ok := WholeExpression(cond)
	if !ok && ContainsExpression(cond) {
		exprs, err := ParseTemplate(cond, nil)
		if err != nil {
			return false, err
		}
		for _, e := range exprs {
			if e.usesStatus {
				return true, nil
			}
		}
		return false, nil
	}
	if !ok {
		body = cond
	}
	e, err := Parse(body, nil)
	if err != nil {
		return false, err
	}
	return e.usesStatus, nil
}

func evaluateIfTemplate(cond string, env *Env) (bool, error) {
	segs, err := splitTemplate(cond)
	if err != nil {
		return false, err
	}
	usesStatus := false
	for _, seg := range segs {
		if seg.isExpr {
			e, err := env.parse(seg.text)
			if err != nil {
				return false, err
			}
			usesStatus = usesStatus || e.usesStatus
		}
	}
	if !usesStatus && env.status() != JobSuccess {
		return false, nil
	}
	s, err := Interpolate(cond, env)
	return s != "", err
}
