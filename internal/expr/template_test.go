package expr

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testEnv(t *testing.T) *Env {
	t.Helper()
	ctx, err := FromJSON([]byte(`{
		"github": {"ref": "refs/heads/main", "event_name": "push", "event": {"commits": [{"id": "a"}, {"id": "b"}]}},
		"matrix": {"os": "ubuntu", "node": 18, "exp": false, "list": [1, 2]},
		"env": {"EMPTY": ""}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Contexts: map[string]Value{}}
	ctx.Object().Range(func(k string, v Value) bool { env.Contexts[k] = v; return true })
	return env
}

func TestInterpolate(t *testing.T) {
	env := testEnv(t)
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"", ""},
		{"node-${{ matrix.node }}", "node-18"},
		{"${{ matrix.os }}/${{ matrix.node }}", "ubuntu/18"},
		{"${{ matrix.exp }}", "false"},
		{"[${{ matrix.missing }}]", "[]"},
		{"${{ 1.0 }} ${{ 0.5 }} ${{ 1e15 }}", "1 0.5 1E+15"},
		{"${{ matrix.list }}", "[\n  1,\n  2\n]"},
		{"${{ format('}}{0}', 'x') }}", "}x"},
		{"${{ 'a }} b' }}!", "a }} b!"},
		{"${{ 'it''s' }}", "it's"},
		{"${{ github.event.commits.*.id }}", "[\n  \"a\",\n  \"b\"\n]"},
		{"$ {{ not }} ${{ 'x' }}", "$ {{ not }} x"},
		{"${{}}", ""},
	}
	for _, tt := range tests {
		got, err := Interpolate(tt.in, env)
		if err != nil {
			t.Errorf("Interpolate(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Interpolate(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestInterpolateErrors(t *testing.T) {
	env := testEnv(t)
	tests := []struct {
		in   string
		kind ErrorKind
	}{
		{"${{ matrix.os", ErrParsing},
		{"${{ 'unclosed }}", ErrParsing},
		{"${{ secrets.X }}", ErrParsing},
		{"${{ 1 = 2 }}", ErrLexing},
		{"${{ fromJSON('{') }}", ErrEvaluation},
	}
	for _, tt := range tests {
		_, err := Interpolate(tt.in, env)
		var ee *Error
		if !errors.As(err, &ee) {
			t.Errorf("Interpolate(%q) error = %v, want *Error", tt.in, err)
			continue
		}
		if ee.Kind != tt.kind {
			t.Errorf("Interpolate(%q) kind = %v, want %v (%v)", tt.in, ee.Kind, tt.kind, ee)
		}
	}
}

func TestEvaluateValue(t *testing.T) {
	env := testEnv(t)
	tests := []struct {
		in   string
		want string // JSON of the value
	}{
		{"${{ matrix.node }}", "18"},
		{"  ${{ matrix.exp }}\n", "false"},
		{"${{ matrix.list }}", "[1,2]"},
		{"${{ fromJSON('{\"a\":[true]}') }}", `{"a":[true]}`},
		{"${{ matrix.node }}x", `"18x"`},
		{"${{ 1 }}${{ 2 }}", `"12"`},
		{"30", `"30"`},
		{"${{ null }}", "null"},
	}
	for _, tt := range tests {
		v, err := EvaluateValue(tt.in, env)
		if err != nil {
			t.Errorf("EvaluateValue(%q): %v", tt.in, err)
			continue
		}
		got, _ := v.MarshalJSON()
		if string(got) != tt.want {
			t.Errorf("EvaluateValue(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestEvaluateIf(t *testing.T) {
	env := testEnv(t)
	tests := []struct {
		cond   string
		status JobStatus
		want   bool
	}{
		{"", JobSuccess, true},
		{"", JobFailure, false},
		{"github.event_name == 'push'", JobSuccess, true},
		{"${{ github.event_name == 'PUSH' }}", JobSuccess, true},
		{"github.event_name == 'push'", JobFailure, false},
		{"github.event_name == 'push'", JobCancelled, false},
		{"always()", JobFailure, true},
		{"failure()", JobFailure, true},
		{"failure()", JobSuccess, false},
		{"cancelled()", JobCancelled, true},
		{"success()", JobCancelled, false},
		{"${{ always() && matrix.exp }}", JobFailure, false},
		{"failure() || matrix.node == 18", JobSuccess, true},
		{"matrix.exp", JobSuccess, false},
		{"env.EMPTY", JobSuccess, false},
		{"matrix.list", JobSuccess, true},
		{"${{ false }} && x", JobSuccess, true},  // text mixed with ${{ }}: a non-empty string
		{"${{ false }} && x", JobFailure, false}, // … still under the implicit success()
		{"${{ always() }} ", JobFailure, true},
	}
	for _, tt := range tests {
		env.Status = tt.status
		got, err := EvaluateIf(tt.cond, env)
		if err != nil {
			t.Errorf("EvaluateIf(%q, %v): %v", tt.cond, tt.status, err)
			continue
		}
		if got != tt.want {
			t.Errorf("EvaluateIf(%q, %v) = %v, want %v", tt.cond, tt.status, got, tt.want)
		}
	}
}

func TestEvaluateIfShortCircuitsOnFailure(t *testing.T) {
	// The implicit success() && (...) must not evaluate the condition when
	// the job already failed: hashFiles must not be called.
	calls := 0
	env := &Env{Status: JobFailure, HashFiles: func([]string) (string, error) { calls++; return "", nil }}
	got, err := EvaluateIf("hashFiles('**') != ''", env)
	if err != nil || got {
		t.Fatalf("EvaluateIf = %v, %v; want false, nil", got, err)
	}
	if calls != 0 {
		t.Errorf("hashFiles called %d times, want 0", calls)
	}
}

func TestHashFilesCallback(t *testing.T) {
	var got [][]string
	env := &Env{HashFiles: func(p []string) (string, error) {
		got = append(got, p)
		if p[0] == "boom" {
			return "", errBoom
		}
		return "abc123", nil
	}}
	v, err := Evaluate("hashFiles('**/go.sum', 'x/*.txt') || 'none'", env)
	if err != nil {
		t.Fatal(err)
	}
	if v.AsString() != "abc123" {
		t.Errorf("value = %v, want abc123", v)
	}
	if diff := cmp.Diff([][]string{{"**/go.sum", "x/*.txt"}}, got); diff != "" {
		t.Errorf("patterns (-want +got):\n%s", diff)
	}
	_, err = Evaluate("HASHFILES('boom')", env)
	var ee *Error
	if !errors.As(err, &ee) || ee.Kind != ErrEvaluation || !errors.Is(err, errBoom) {
		t.Errorf("error = %v, want evaluation *Error wrapping errBoom", err)
	}
	if _, err := Evaluate("hashFiles('a')", &Env{}); err == nil {
		t.Error("hashFiles without a callback: want an error")
	}
	if _, err := Parse("hashFiles()", nil); err == nil || !strings.Contains(err.Error(), "Too few parameters") {
		t.Errorf("hashFiles(): error = %v, want too few parameters", err)
	}
}

var errBoom = errors.New("boom")

func TestParseTemplate(t *testing.T) {
	exprs, err := ParseTemplate("build-${{ matrix.os }}-${{ github.sha }}", []string{"matrix", "github"})
	if err != nil || len(exprs) != 2 {
		t.Fatalf("ParseTemplate = %v, %v; want 2 expressions", exprs, err)
	}
	if got := exprs[0].NamedValues(); len(got) != 1 || got[0] != "matrix" {
		t.Errorf("NamedValues = %v, want [matrix]", got)
	}
	if _, err := ParseTemplate("${{ secrets.x }}", []string{"matrix"}); err == nil {
		t.Error("want an error for a context that is not allowed")
	}
	if exprs, err := ParseTemplate("no expressions", nil); err != nil || exprs != nil {
		t.Errorf("ParseTemplate(plain) = %v, %v; want nil, nil", exprs, err)
	}
}

func TestConcurrentEvaluate(t *testing.T) {
	env := testEnv(t)
	e, err := Parse("format('{0}-{1}', matrix.os, join(github.event.commits.*.id))", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 8)
	for i := 0; i < 8; i++ {
		go func() {
			v, err := e.Evaluate(env)
			if err != nil {
				done <- err.Error()
				return
			}
			done <- v.AsString()
		}()
	}
	for i := 0; i < 8; i++ {
		if got := <-done; got != "ubuntu-a,b" {
			t.Errorf("goroutine result = %q, want ubuntu-a,b", got)
		}
	}
}

func TestWholeExpression(t *testing.T) {
	tests := []struct {
		in, body string
		ok       bool
	}{
		{"${{ matrix.os }}", " matrix.os ", true},
		{"  ${{ a }} ", " a ", true},
		{"${{ insert }}", " insert ", true},
		{"${{ format('}}') }}", " format('}}') ", true},
		{"x-${{ a }}", "", false},
		{"${{ a }}-${{ b }}", "", false},
		{"${{ a }}}}", "", false},
		{"${{ a", "", false},
		{"ubuntu", "", false},
	}
	for _, tt := range tests {
		body, ok := WholeExpression(tt.in)
		if body != tt.body || ok != tt.ok {
			t.Errorf("WholeExpression(%q) = %q, %v, want %q, %v", tt.in, body, ok, tt.body, tt.ok)
		}
	}
}

func TestIfUsesStatus(t *testing.T) {
	tests := []struct {
		in      string
		want    bool
		wantErr bool
	}{
		{"", false, false},
		{"github.repository == 'octo-org/octo-repo-prod'", false, false},
		{"always()", true, false},
		{"123", false, false},
		{"123 || failure()", true, false},
		{"${{ 0 || 1 }}", false, false},
		{"${{  needs.build.outputs.run-js-tests && success() }}", true, false},
		{"${{ true || 'success()' }}", false, false},
		{"!cancelled()", true, false},
		{"contains(github.ref, 'x') && Failure()", true, false},
		{"x ${{ always() }}", true, false},
		{"x ${{ github.ref }}", false, false},
		{"${{ ( }}", false, true},
		{"always(", false, true},
	}
	for _, tt := range tests {
		got, err := IfUsesStatus(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("IfUsesStatus(%q) = %v, %v, want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
