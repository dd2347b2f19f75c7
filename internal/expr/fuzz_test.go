package expr

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzSeeds returns expressions (and their contexts as JSON) from the
// conformance corpus and the real-world expression list, read at run time.
func fuzzSeeds(tb testing.TB) (exprs, contexts []string) {
	cases := loadConformance(tb)
	for _, c := range cases {
		exprs = append(exprs, c.Expr)
		ctx := string(c.Contexts)
		if ctx == "" {
			ctx = "{}"
		}
		contexts = append(contexts, ctx)
	}
	data, err := os.ReadFile(filepath.Join(corpusDir(tb, "actionlint"), "testdata", "bench", "expressions.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		exprs = append(exprs, line)
		contexts = append(contexts, `{"github":{"ref":"refs/heads/main","event":{"x":[1]}},"matrix":{"os":"linux"}}`)
	}
	return exprs, contexts
}

func checkErr(t *testing.T, src string, err error) {
	var ee *Error
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%q: error %v (%T) is not *Error", src, err, err)
	}
}

func FuzzParse(f *testing.F) {
	exprs, _ := fuzzSeeds(f)
	for _, e := range exprs {
		f.Add(e)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src, nil)
		checkErr(t, src, err)
		uses, ierr := IfUsesStatus(src)
		checkErr(t, src, ierr)
		if err != nil {
			return
		}
		if !ContainsExpression(src) && (ierr != nil || uses != e.UsesStatusFunction()) {
			t.Fatalf("%q: IfUsesStatus = %v, %v, want %v as Parse found", src, uses, ierr, e.UsesStatusFunction())
		}
		env := &Env{Status: JobFailure, HashFiles: func(p []string) (string, error) { return strings.Join(p, ","), nil }}
		v, err := e.Evaluate(env)
		checkErr(t, src, err)
		_ = ToJSON(v)
		_ = String(v)
	})
}

func FuzzEvaluate(f *testing.F) {
	exprs, contexts := fuzzSeeds(f)
	for i := range exprs {
		f.Add(exprs[i], contexts[i])
	}
	f.Fuzz(func(t *testing.T, src, ctxJSON string) {
		env := &Env{Contexts: map[string]Value{}}
		if c, err := FromJSON([]byte(ctxJSON)); err == nil && c.Kind() == KindObject {
			c.Object().Range(func(k string, v Value) bool { env.Contexts[k] = v; return true })
		}
		v, err := Evaluate(src, env)
		checkErr(t, src, err)
		if err == nil {
			js, _ := v.MarshalJSON()
			if _, err := FromJSON(js); err != nil {
				t.Fatalf("%q: result JSON %s does not parse back: %v", src, js, err)
			}
		}
		_, err = Interpolate("a ${{ "+src+" }} b", env)
		checkErr(t, src, err)
		_, err = EvaluateIf(src, env)
		checkErr(t, src, err)
	})
}
