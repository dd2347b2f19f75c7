package expr

import "fmt"

// Limits applied to every expression, as GitHub applies them.
const (
	// MaxExpressionLength is the longest expression accepted, in UTF-16 code units.
	MaxExpressionLength = 21000
	// MaxDepth is the deepest nesting the parser accepts (operators, groups,
	// function calls and property accesses all count).
	MaxDepth = 50
	// MaxMemory bounds the bytes of strings, arrays and JSON one evaluation
	// may produce, so that nested format()/join() cannot exhaust memory.
	MaxMemory = 10 << 20
)

// ErrorKind classifies an expression error by the phase that raised it.
type ErrorKind int

// The three phases an expression error can come from.
const (
	ErrLexing ErrorKind = iota + 1
	ErrParsing
	ErrEvaluation
)

// String returns "lexing", "parsing" or "evaluation".
func (k ErrorKind) String() string {
	switch k {
	case ErrLexing:
		return "lexing"
	case ErrParsing:
		return "parsing"
	case ErrEvaluation:
		return "evaluation"
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// Error is the one error type this package returns for bad expressions.
type Error struct {
	Kind    ErrorKind
	Message string // GitHub's wording without the location, e.g. "Unexpected symbol: '2'"
	Pos     int    // 1-based character position within Expr; 0 when not tied to a token
	Expr    string // the expression text (inside `${{ }}`)
	Err     error  // underlying cause (e.g. from Env.HashFiles), may be nil
}

// Error formats the message the way GitHub does, with the location when known.
func (e *Error) Error() string {
	if e.Pos > 0 {
		return fmt.Sprintf("%s. Located at position %d within expression: %s", e.Message, e.Pos, e.Expr)
	}
	return e.Message
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// position converts a byte offset in src into GitHub's 1-based position,
// counted in UTF-16 code units as GitHub's implementations count.
func position(src string, off int) int {
	if off > len(src) {
		off = len(src)
	}
	n := 0
	for _, r := range src[:off] {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n + 1
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}
