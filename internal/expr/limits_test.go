package expr

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLimits(t *testing.T) {
	long := "'" + strings.Repeat("a", MaxExpressionLength-2) + "'"
	tests := []struct {
		name string
		src  string
		kind ErrorKind // 0: must succeed
		msg  string
	}{
		{"max length ok", long, 0, ""},
		{"too long", long + " ", ErrParsing, "Exceeded max expression length 21000"},
		{"parens at depth 50", strings.Repeat("(", 49) + "1" + strings.Repeat(")", 49), 0, ""},
		{"parens too deep", strings.Repeat("(", 50) + "1" + strings.Repeat(")", 50), ErrParsing, "Exceeded max expression depth 50"},
		{"thousands of parens", strings.Repeat("(", 5000), ErrParsing, "Exceeded max expression depth 50"},
		{"thousands of nots", strings.Repeat("!", 10000) + "x", ErrParsing, "Exceeded max expression depth 50"},
		{"long flat chain", strings.Repeat("1 == ", 3000) + "1", 0, ""},
		{"memory bomb", bomb(), ErrEvaluation, "maximum allowed memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Evaluate(tt.src, nil)
			if tt.kind == 0 {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			var ee *Error
			if !errors.As(err, &ee) || ee.Kind != tt.kind || !strings.Contains(ee.Error(), tt.msg) {
				t.Fatalf("got error %v, want %v error containing %q", err, tt.kind, tt.msg)
			}
		})
	}
}

// bomb nests format() so that each level multiplies the output by 16.
func bomb() string {
	s := "'xxxxxxxxxxxxxxxx'"
	for i := 0; i < 20; i++ {
		s = "format('" + strings.Repeat("{0}", 16) + "', " + s + ")"
	}
	return s
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		src     string
		allowed []string
		kind    ErrorKind
		want    string
	}{
		{"foo.bar", []string{"github"}, ErrParsing, "Unrecognized named-value: 'foo'. Located at position 1 within expression: foo.bar"},
		{"'é' == x", []string{"github"}, ErrParsing, "Unrecognized named-value: 'x'. Located at position 8"},
		{"'😀' == x", []string{"github"}, ErrParsing, "Located at position 9"},
		{"nope(1)", nil, ErrParsing, "Unrecognized function: 'nope'"},
		{"format('a',)", nil, ErrParsing, "Unexpected symbol: ')'"},
		{"contains(1)", nil, ErrParsing, "Too few parameters supplied: 'contains'"},
		{"success(1)", nil, ErrParsing, "Too many parameters supplied: 'success'"},
		{"case(true, 1)", nil, ErrParsing, "Too few parameters supplied"},
		{"(1", nil, ErrParsing, "Unexpected end of expression"},
		{"1 &&", nil, ErrParsing, "Unexpected end of expression"},
		{"'a'[0]", nil, ErrParsing, "Unexpected symbol: '['"},
		{"a.", nil, ErrParsing, "Unexpected symbol: 'EOF'"},
		{"1 'it''s'", nil, ErrParsing, "Unexpected symbol: 'it's'. Located at position 3"},
		{"1 - 2", nil, ErrLexing, "Unexpected symbol: '-'"},
		{"a\u00a0b", nil, ErrParsing, "Unexpected symbol: 'b'"}, // any Unicode space separates tokens
		{"a ~ b", nil, ErrLexing, "Unexpected symbol: '~'"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.src, tt.allowed)
		var ee *Error
		if !errors.As(err, &ee) || ee.Kind != tt.kind || !strings.Contains(ee.Error(), tt.want) {
			t.Errorf("Parse(%q) error = %v, want %v containing %q", tt.src, err, tt.kind, tt.want)
		}
	}
}

func TestParseInfo(t *testing.T) {
	e, err := Parse("Github.ref == 'x' && (matrix.os || github.sha) && always()", nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"github", "matrix"}, e.NamedValues()); diff != "" {
		t.Errorf("NamedValues (-want +got):\n%s", diff)
	}
	if !e.UsesStatusFunction() {
		t.Error("UsesStatusFunction = false, want true")
	}
	if e3, err := Parse("anything.goes", []string{}); err != nil || e3 == nil {
		t.Errorf("empty allowed list must allow any context: %v", err)
	}
	if e2, _ := Parse("github.ref", []string{"GITHUB"}); e2 == nil || e2.UsesStatusFunction() {
		t.Error("allowed contexts must match case-insensitively; no status function used")
	}
	if v, err := e.Evaluate(nil); err != nil || v.Kind() != KindBool || v.AsBool() {
		t.Errorf("Evaluate(nil env) = %v, %v; want false", v, err)
	}
}

func TestLazyCase(t *testing.T) {
	// case() evaluates only what it needs: the failing fromJSON is never reached.
	v, err := Evaluate("case(true, 'a', fromJSON('{'))", nil)
	if err != nil || v.AsString() != "a" {
		t.Errorf("got %v, %v; want a", v, err)
	}
}
