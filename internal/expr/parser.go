package expr

import "strings"

// Expr is a parsed expression, safe to evaluate many times and from several
// goroutines at once.
type Expr struct {
	src         string
	root        node // nil for an empty expression (evaluates to null)
	usesStatus  bool
	namedValues []string
}

// Parse parses src, an expression as written inside `${{ }}`.
//
// allowedContexts lists the named values (contexts such as "github",
// "matrix") the expression may reference, compared case-insensitively; a
// reference to any other name is a parsing error, as on GitHub. An empty
// (or nil) list allows every name. (Evaluate, Interpolate and the other Env
// functions allow exactly the contexts present in the Env.)
// Function names and arities are checked here too. Errors are *Error.
func Parse(src string, allowedContexts []string) (*Expr, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	var allowed func(string) bool
	if len(allowedContexts) > 0 {
		allowed = func(name string) bool {
			for _, c := range allowedContexts {
				if equalFold(c, name) {
					return true
				}
			}
			return false
		}
	}
	return parse(src, toks, allowed)
}

// parse builds the tree; allowed reports whether a context name may be
// referenced (nil: any).
func parse(src string, toks []token, allowed func(string) bool) (*Expr, error) {
	p := &parser{src: src, toks: toks, allowed: allowed}
	e := &Expr{src: src}
	if p.peek().kind != tEOF {
		root, err := p.expression()
		if err != nil {
			return nil, err
		}
		if p.peek().kind != tEOF {
			return nil, p.errorAt("Unexpected symbol", p.peek())
		}
		e.root = root
	}
	e.usesStatus = p.usesStatus
	e.namedValues = p.named
	return e, nil
}

// Source returns the expression text.
func (e *Expr) Source() string { return e.src }

// UsesStatusFunction reports whether the expression calls success(),
// failure(), cancelled() or always() — which decides whether an `if:`
// condition gets the implicit `success() && (...)`.
func (e *Expr) UsesStatusFunction() bool { return e.usesStatus }

// NamedValues returns the contexts the expression references, lower-cased,
// in order of first use.
func (e *Expr) NamedValues() []string { return e.namedValues }

// parser is a recursive-descent parser with GitHub's precedence (lowest
// first): ||, &&, == !=, < <= > >=, !, then [] and . postfixes. Depth is
// counted the way GitHub counts it, so the same inputs hit MaxDepth.
type parser struct {
	src        string
	toks       []token
	i          int
	depth      int
	allowed    func(name string) bool // nil = any name
	usesStatus bool
	named      []string
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) prev() token {
	if p.i == 0 {
		return p.toks[0]
	}
	return p.toks[p.i-1]
}

func (p *parser) check(k tokenKind) bool { return p.toks[p.i].kind == k }

func (p *parser) match(k tokenKind) bool {
	if p.toks[p.i].kind == k && k != tEOF {
		p.i++
		return true
	}
	return false
}

// errorAt builds a parsing error naming token t as GitHub does (a string
// literal by its value, the end as EOF).
func (p *parser) errorAt(desc string, t token) *Error {
	text := t.text
	switch t.kind {
	case tString:
		text = t.str
	case tEOF:
		text = "EOF"
	}
	return &Error{Kind: ErrParsing, Message: desc + ": '" + text + "'", Pos: position(p.src, t.off), Expr: p.src}
}

func (p *parser) incr() error {
	p.depth++
	if p.depth > MaxDepth {
		return &Error{Kind: ErrParsing, Message: "Exceeded max expression depth 50", Pos: position(p.src, p.peek().off), Expr: p.src}
	}
	return nil
}

func (p *parser) expression() (node, error) {
	if err := p.incr(); err != nil {
		return nil, err
	}
	n, err := p.logical(tOr)
	p.depth--
	return n, err
}

// logical parses an n-ary chain of || (op == tOr) or && (op == tAnd).
func (p *parser) logical(op tokenKind) (node, error) {
	operand := p.equality
	if op == tOr {
		operand = func() (node, error) { return p.logical(tAnd) }
	}
	first, err := operand()
	if err != nil || !p.check(op) {
		return first, err
	}
	if err := p.incr(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	n := &logicalNode{or: op == tOr, args: []node{first}}
	for p.match(op) {
		next, err := operand()
		if err != nil {
			return nil, err
		}
		n.args = append(n.args, next)
	}
	return n, nil
}

func (p *parser) equality() (node, error) {
	l, err := p.comparison()
	for err == nil && (p.check(tEq) || p.check(tNe)) {
		op := p.peek().kind
		p.i++
		var r node
		if r, err = p.comparison(); err == nil {
			l = &binaryNode{op: op, l: l, r: r}
		}
	}
	return l, err
}

func (p *parser) comparison() (node, error) {
	l, err := p.unary()
	for err == nil {
		op := p.peek().kind
		if op != tLt && op != tLe && op != tGt && op != tGe {
			break
		}
		p.i++
		var r node
		if r, err = p.unary(); err == nil {
			l = &binaryNode{op: op, l: l, r: r}
		}
	}
	return l, err
}

func (p *parser) unary() (node, error) {
	if !p.match(tBang) {
		return p.postfix()
	}
	if err := p.incr(); err != nil {
		return nil, err
	}
	x, err := p.unary()
	p.depth--
	if err != nil {
		return nil, err
	}
	return &notNode{x: x}, nil
}

// postfix parses a primary and, after a group, call or context, any chain
// of [index], [*], .name and .* accesses.
func (p *parser) postfix() (node, error) {
	n, indexable, err := p.call()
	if err != nil || !indexable {
		return n, err
	}
	base := p.depth
	defer func() { p.depth = base }()
	for {
		switch {
		case p.match(tLBracket):
			var idx node
			if !p.match(tStar) {
				if idx, err = p.expression(); err != nil {
					return nil, err
				}
			}
			if !p.match(tRBracket) {
				return nil, p.errorAt("Unexpected symbol", p.peek())
			}
			if err := p.incr(); err != nil {
				return nil, err
			}
			n = &indexNode{x: n, idx: idx}
		case p.match(tDot):
			if err := p.incr(); err != nil {
				return nil, err
			}
			switch {
			case p.match(tIdent):
				n = &indexNode{x: n, idx: &literalNode{v: StringValue(p.prev().text)}}
			case p.match(tStar):
				n = &indexNode{x: n}
			default:
				return nil, p.errorAt("Unexpected symbol", p.peek())
			}
		default:
			return n, nil
		}
	}
}

// call parses a context reference, a function call or a primary; indexable
// reports whether postfix accesses may follow.
func (p *parser) call() (node, bool, error) {
	if !p.check(tIdent) {
		return p.primary()
	}
	id := p.peek()
	p.i++
	if !p.match(tLParen) {
		if p.allowed != nil && !p.allowed(id.text) {
			return nil, false, p.errorAt("Unrecognized named-value", id)
		}
		p.noteNamed(strings.ToLower(id.text))
		return &contextNode{name: id.text}, true, nil
	}
	fn := lookupFunc(id.text)
	if fn == nil {
		return nil, false, p.errorAt("Unrecognized function", id)
	}
	var args []node
	for !p.match(tRParen) {
		if len(args) > 0 {
			if !p.match(tComma) {
				return nil, false, p.errorAt("Unexpected symbol", p.peek())
			}
		}
		a, err := p.expression()
		if err != nil {
			return nil, false, err
		}
		args = append(args, a)
	}
	switch {
	case len(args) < fn.min:
		return nil, false, p.errorAt("Too few parameters supplied", id)
	case len(args) > fn.max:
		return nil, false, p.errorAt("Too many parameters supplied", id)
	case fn.odd && len(args)%2 == 0:
		return nil, false, p.errorAt("Even number of parameters supplied, requires an odd number of parameters", id)
	}
	p.usesStatus = p.usesStatus || fn.status
	return &callNode{fn: fn, args: args}, true, nil
}

func (p *parser) noteNamed(name string) {
	for _, n := range p.named {
		if n == name {
			return
		}
	}
	p.named = append(p.named, name)
}

func (p *parser) primary() (node, bool, error) {
	t := p.peek()
	switch t.kind {
	case tFalse, tTrue:
		p.i++
		return &literalNode{v: BoolValue(t.kind == tTrue)}, false, nil
	case tNull:
		p.i++
		return &literalNode{v: Null}, false, nil
	case tNumber:
		p.i++
		return &literalNode{v: NumberValue(t.num)}, false, nil
	case tString:
		p.i++
		return &literalNode{v: StringValue(t.str)}, false, nil
	case tLParen:
		p.i++
		x, err := p.expression()
		if err != nil {
			return nil, false, err
		}
		if p.check(tEOF) {
			return nil, false, p.errorAt("Unexpected end of expression", p.prev())
		}
		if !p.match(tRParen) {
			return nil, false, p.errorAt("Unexpected symbol", p.peek())
		}
		return x, true, nil
	case tEOF:
		return nil, false, p.errorAt("Unexpected end of expression", p.prev())
	}
	return nil, false, p.errorAt("Unexpected symbol", t)
}
