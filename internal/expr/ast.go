package expr

// node is a parsed expression node; the evaluator switches on its type.
type node interface{ isNode() }

type literalNode struct{ v Value }

// contextNode references a named value (context) such as github.
type contextNode struct{ name string }

type notNode struct{ x node }

// binaryNode is a comparison: == != < <= > >=.
type binaryNode struct {
	op   tokenKind
	l, r node
}

// logicalNode is an n-ary && (or == false) or || chain.
type logicalNode struct {
	or   bool
	args []node
}

// indexNode is x[idx], x.name, x[*] or x.* (idx == nil for the filters).
type indexNode struct {
	x, idx node
}

type callNode struct {
	fn   *funcInfo
	args []node
}

func (*literalNode) isNode() {}
func (*contextNode) isNode() {}
func (*notNode) isNode()     {}
func (*binaryNode) isNode()  {}
func (*logicalNode) isNode() {}
func (*indexNode) isNode()   {}
func (*callNode) isNode()    {}
