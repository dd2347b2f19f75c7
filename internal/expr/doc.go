// Package expr owns the GitHub Actions expression language: the `${{ }}` lexer,
// parser, evaluator and built-in functions, the JSON-like value model that
// contexts and results use, and the template helpers the runner needs
// (Interpolate, EvaluateValue, EvaluateIf).
//
// The semantics follow GitHub's own implementations and its cross-language
// conformance cases: loose equality with string↔number↔bool↔null coercion,
// case-insensitive string comparison and object keys, `&&`/`||` returning
// operand values, object filters (`.*`, `[*]`), number literals in decimal,
// hex (0x), octal (0o), exponent form, Infinity and NaN, and GitHub's error
// wording ("Unexpected symbol: '2'. Located at position 3 within expression: 1 2").
//
// The package is pure: it does no I/O. hashFiles() calls back into the
// caller (Env.HashFiles), which computes the hash where the files are.
//
// Typical use:
//
//	env := &expr.Env{Contexts: map[string]expr.Value{"github": gh, "matrix": m}}
//	s, err := expr.Interpolate("node-${{ matrix.node }}", env)
//	run, err := expr.EvaluateIf("github.event_name == 'push'", env)
package expr
