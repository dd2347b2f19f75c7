package expr

import "testing"

var benchExprs = []struct{ name, src string }{
	{"ref-compare", "github.event_name == 'push' && github.ref == 'refs/heads/main'"},
	{"contains-fromJSON", "contains(fromJSON('[\"linux\", \"darwin\"]'), matrix.os)"},
	{"format", "format('{0}-{1}-{2}', matrix.os, matrix.node, github.sha)"},
	{"filter-join", "join(github.event.commits.*.id, ', ')"},
	{"startsWith-or", "startsWith(github.ref, 'refs/tags/v') || github.event_name == 'release'"},
}

func benchEnv(b *testing.B) *Env {
	ctx, err := FromJSON([]byte(`{
		"github": {"event_name": "push", "ref": "refs/heads/main", "sha": "0123456789abcdef",
			"event": {"commits": [{"id": "a1"}, {"id": "b2"}, {"id": "c3"}]}},
		"matrix": {"os": "linux", "node": 20}}`))
	if err != nil {
		b.Fatal(err)
	}
	env := &Env{Contexts: map[string]Value{}}
	ctx.Object().Range(func(k string, v Value) bool { env.Contexts[k] = v; return true })
	return env
}

// BenchmarkEvaluate measures parse + evaluate of typical expressions.
func BenchmarkEvaluate(b *testing.B) {
	env := benchEnv(b)
	for _, bb := range benchExprs {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Evaluate(bb.src, env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEvaluateParsed measures evaluation of an already parsed expression.
func BenchmarkEvaluateParsed(b *testing.B) {
	env := benchEnv(b)
	for _, bb := range benchExprs {
		e, err := Parse(bb.src, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Evaluate(env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInterpolate measures a typical run: script with two expressions.
func BenchmarkInterpolate(b *testing.B) {
	env := benchEnv(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Interpolate("echo ${{ matrix.os }} && make test-${{ matrix.node }}", env); err != nil {
			b.Fatal(err)
		}
	}
}
