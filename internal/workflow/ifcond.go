package workflow

import (
	"strings"

	"github.com/rhysd/actionlint"
)

// statusFuncs are the job-status check functions of GitHub expressions.
var statusFuncs = map[string]bool{"success": true, "failure": true, "cancelled": true, "always": true}

// NormalizeIf turns a job or step if: into the expression GitHub evaluates:
// the ${{ }} wrapper is removed, an empty condition becomes "success()", and
// a condition that calls no status function (success, failure, cancelled,
// always) becomes "success() && (cond)".
func NormalizeIf(cond string) string {
	expr := strings.TrimSpace(cond)
	if IsWholeExpression(expr) {
		expr = strings.TrimSpace(expr[3 : len(expr)-2])
	}
	if expr == "" {
		return "success()"
	}
	if callsStatusFunc(expr) {
		return expr
	}
	return "success() && (" + expr + ")"
}

// callsStatusFunc reports whether expr calls a status function; an
// expression that does not parse is treated as calling none.
func callsStatusFunc(expr string) (found bool) {
	defer func() {
		if recover() != nil {
			found = false
		}
	}()
	node, err := actionlint.NewExprParser().Parse(actionlint.NewExprLexer(expr + "}}"))
	if err != nil || node == nil {
		return false
	}
	actionlint.VisitExprNode(node, func(n, _ actionlint.ExprNode, entering bool) {
		if f, ok := n.(*actionlint.FuncCallNode); ok && entering && statusFuncs[strings.ToLower(f.Callee)] {
			found = true
		}
	})
	return found
}
