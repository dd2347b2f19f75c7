package workflow

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v4"

	"github.com/hookci/hookci/internal/expr"
)

// readerCase is one GitHub workflow-parser conformance case
// (actions-languageservices/workflow-parser/testdata/reader).
type readerCase struct {
	Skip          []string `yaml:"skip"`
	MaxDepth      int      `yaml:"max-depth"`
	MaxFileSize   int      `yaml:"max-file-size"`
	MaxResultSize int      `yaml:"max-result-size"`
	workflow      string
	expected      expectedDoc
	undecodable   bool // expected JSON not in the shape we compare (Go-skipped cases only)
}

type expectedDoc struct {
	Jobs   []expectedJob     `json:"jobs"`
	Errors []json.RawMessage `json:"errors"`
}

type expectedJob struct {
	ID       json.RawMessage   `json:"id"`
	Needs    []json.RawMessage `json:"needs"`
	If       json.RawMessage   `json:"if"`
	Strategy json.RawMessage   `json:"strategy"`
	RunsOn   json.RawMessage   `json:"runs-on"`
	Steps    []struct {
		If   json.RawMessage `json:"if"`
		Run  json.RawMessage `json:"run"`
		Uses json.RawMessage `json:"uses"`
		Name json.RawMessage `json:"name"`
	} `json:"steps"`
}

func readReaderCase(t *testing.T, file string) readerCase {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n---\n")
	if len(docs) < 3 {
		t.Fatalf("%s: %d documents, want at least 3", file, len(docs))
	}
	var c readerCase
	if err := yaml.Unmarshal([]byte(docs[0]), &c); err != nil {
		t.Fatalf("%s: options: %v", file, err)
	}
	c.workflow = docs[1] // no newline added: block scalars at the end must stay as GitHub reads them
	if err := json.Unmarshal([]byte(docs[len(docs)-1]), &c.expected); err != nil {
		if !slices.Contains(c.Skip, "Go") {
			t.Fatalf("%s: expected JSON: %v", file, err)
		}
		c.undecodable = true
	}
	return c
}

// TestReaderConformance compares Load with GitHub's expected output for
// every reader case GitHub's Go implementation does not skip.
func TestReaderConformance(t *testing.T) {
	dir := corpusDir(t, "actions-languageservices/workflow-parser/testdata/reader")
	known := readKnownMisses(t, "testdata/reader_known_misses.txt")
	var run, pass, skipped, skippedPass int
	var misses []string
	for _, f := range mustGlob(t, filepath.Join(dir, "*.yml")) {
		name := strings.TrimSuffix(filepath.Base(f), ".yml")
		c := readReaderCase(t, f)
		if slices.Contains(c.Skip, "Go") {
			skipped++
			if !c.undecodable && compareReaderCase(c) == "" {
				skippedPass++ // informational only
			}
			continue
		}
		run++
		if why := compareReaderCase(c); why != "" {
			misses = append(misses, name)
			if _, ok := known[name]; !ok {
				t.Errorf("%s: unlisted miss: %s", name, why)
			}
			continue
		}
		pass++
		if _, ok := known[name]; ok {
			t.Logf("%s: listed as a known miss but passes now", name)
		}
	}
	t.Logf("reader conformance: %d/%d pass (%.1f%%); misses: %v; %d cases skipped for Go, of which %d would pass (informational)",
		pass, run, 100*float64(pass)/float64(run), misses, skipped, skippedPass)
	if run == 0 {
		t.Fatal("no reader case ran")
	}
}

func readKnownMisses(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, _ := strings.Cut(line, ":")
		m[strings.TrimSpace(name)] = strings.TrimSpace(reason)
	}
	return m
}

// compareReaderCase returns "" when Load agrees with the expected output.
func compareReaderCase(c readerCase) string {
	opts := Options{MaxDepth: c.MaxDepth, MaxFileSize: c.MaxFileSize}
	w, err := LoadWithOptions("test.yml", []byte(c.workflow), opts)
	wantErr := len(c.expected.Errors) > 0
	var le *LoadError
	if err != nil && !errors.As(err, &le) {
		return fmt.Sprintf("error is %T, want *LoadError", err)
	}
	switch {
	case wantErr && err == nil:
		return fmt.Sprintf("loaded, want %d errors: %s", len(c.expected.Errors), c.expected.Errors)
	case !wantErr && err != nil:
		return fmt.Sprintf("rejected: %v", err)
	case wantErr:
		return ""
	}
	return compareJobs(w, c.expected.Jobs)
}

func compareJobs(w *Workflow, want []expectedJob) string {
	if len(w.Jobs) != len(want) {
		return fmt.Sprintf("%d jobs, want %d", len(w.Jobs), len(want))
	}
	for i, ej := range want {
		j := w.Jobs[i]
		if id := literal(ej.ID); j.ID != id {
			return fmt.Sprintf("job %d id %q, want %q", i, j.ID, id)
		}
		var needs []string
		for _, n := range ej.Needs {
			needs = append(needs, literal(n))
		}
		if !slices.Equal(j.Needs, needs) {
			return fmt.Sprintf("job %s needs %q, want %q", j.ID, j.Needs, needs)
		}
		if got, want := normalizeIf(j.If), tokenExpr(ej.If); got != want {
			return fmt.Sprintf("job %s if %q, want %q", j.ID, got, want)
		}
		if diff := cmp.Diff(tokenValue(ej.Strategy), strategyTree(j.Strategy)); diff != "" {
			return fmt.Sprintf("job %s strategy (-want +got):\n%s", j.ID, diff)
		}
		if len(ej.Steps) != len(j.Steps) {
			return fmt.Sprintf("job %s: %d steps, want %d", j.ID, len(j.Steps), len(ej.Steps))
		}
		if diff := cmp.Diff(labelList(tokenValue(ej.RunsOn)), runsOnTree(j.RunsOn)); diff != "" {
			return fmt.Sprintf("job %s runs-on (-want +got):\n%s", j.ID, diff)
		}
		for k, es := range ej.Steps {
			st := j.Steps[k]
			if got, want := normalizeIf(st.If), tokenExpr(es.If); got != want {
				return fmt.Sprintf("job %s step %d if %q, want %q", j.ID, k, got, want)
			}
			for _, f := range []struct {
				what string
				want json.RawMessage
				got  string
			}{{"run", es.Run, st.Run}, {"uses", es.Uses, st.Uses}, {"name", es.Name, st.Name}} {
				if diff := cmp.Diff(tokenValue(f.want), optional(f.got)); diff != "" {
					return fmt.Sprintf("job %s step %d %s (-want +got):\n%s", j.ID, k, f.what, diff)
				}
			}
		}
	}
	return ""
}

// literal returns a string token, plain or with source info ({"lit": …}).
func literal(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var tok struct{ Lit string }
	if json.Unmarshal(raw, &tok) == nil {
		return tok.Lit
	}
	return fmt.Sprintf("<bad id %s>", raw)
}

// tokenExpr returns the expression of an expected {"type":3,"expr":…} token.
// normalizeIf turns a job or step if: into the expression GitHub's parser
// records: the ${{ }} wrapper removed, an empty condition "success()", and a
// condition that calls no status function "success() && (cond)".
func normalizeIf(cond string) string {
	body := strings.TrimSpace(cond)
	if b, ok := expr.WholeExpression(body); ok {
		body = strings.TrimSpace(b)
	}
	if body == "" {
		return "success()"
	}
	if uses, err := expr.IfUsesStatus(body); err == nil && uses {
		return body
	}
	return "success() && (" + body + ")"
}

func tokenExpr(raw json.RawMessage) string {
	var tok struct{ Expr string }
	if err := json.Unmarshal(raw, &tok); err != nil {
		return fmt.Sprintf("<bad token %s>", raw)
	}
	return tok.Expr
}

// tokenValue converts an expected template token to the raw tree form,
// expressions as "expr:…" strings and non-finite numbers as their names.
func tokenValue(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Sprintf("<bad token %s>", raw)
	}
	return fromToken(v)
}

func fromToken(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	switch m["type"] {
	case 1.0:
		seq, _ := m["seq"].([]any)
		out := []any{}
		for _, e := range seq {
			out = append(out, fromToken(e))
		}
		return out
	case 2.0:
		pairs, _ := m["map"].([]any)
		out := []KV{}
		for _, p := range pairs {
			pm, _ := p.(map[string]any)
			k, _ := pm["Key"].(string)
			out = append(out, KV{Key: k, Value: fromToken(pm["Value"])})
		}
		return out
	case 3.0:
		return "expr:" + fmt.Sprint(m["expr"])
	case 0.0:
		return m["lit"]
	}
	return v
}

// strategyTree renders our Strategy in the same form as tokenValue.
func strategyTree(s *Strategy) any {
	if s == nil {
		return nil
	}
	out := []KV{}
	if s.Matrix != nil {
		out = append(out, KV{Key: "matrix", Value: comparable(s.Matrix)})
	}
	if s.FailFast != "" {
		out = append(out, KV{Key: "fail-fast", Value: comparable(scalarOf(s.FailFast))})
	}
	if s.MaxParallel != "" {
		out = append(out, KV{Key: "max-parallel", Value: comparable(scalarOf(s.MaxParallel))})
	}
	return out
}

// runsOnTree renders RunsOn like the reader's runs-on token.
func runsOnTree(r RunsOn) any {
	switch {
	case r.Expr != "":
		return comparable(r.Expr)
	case r.Group != "":
		out := []KV{{Key: "group", Value: r.Group}}
		if r.Labels != nil {
			out = append(out, KV{Key: "labels", Value: labelsTree(r.Labels)})
		}
		return out
	case r.Labels != nil:
		return labelsTree(r.Labels)
	}
	return nil
}

// labelList turns a lone label into a one-label list (same meaning), and
// leaves expressions, lists and group mappings alone.
func labelList(v any) any {
	if s, ok := v.(string); ok && !strings.HasPrefix(s, "expr:") {
		return []any{s}
	}
	return v
}

func labelsTree(ls []string) any {
	out := []any{}
	for _, l := range ls {
		out = append(out, comparable(l))
	}
	return out
}

// optional renders an optional string field: "" is absent.
func optional(s string) any {
	if s == "" {
		return nil
	}
	return comparable(s)
}

func scalarOf(s string) any {
	if isWholeExpression(s) {
		return s
	}
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: s}
	v, _ := scalarValue(n)
	return v
}

func comparable(v any) any {
	switch v := v.(type) {
	case []KV:
		out := []KV{}
		for _, kv := range v {
			out = append(out, KV{Key: kv.Key, Value: comparable(kv.Value)})
		}
		return out
	case []any:
		out := []any{}
		for _, e := range v {
			out = append(out, comparable(e))
		}
		return out
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return FormatScalar(v)
		}
		return v + 0 // -0 → 0
	case string:
		if e, ok := templateExpr(v); ok {
			return e
		}
	}
	return v
}

// templateExpr converts a string holding ${{ }} to what GitHub's reader
// produces: "expr:<inner>" for one whole expression, "expr:format('…{0}…',
// …)" for embedded ones, and the plain string when the whole value is one
// string literal (GitHub folds ${{ 'x' }} into x).
func templateExpr(s string) (any, bool) {
	var format strings.Builder
	var args []string
	rest := s
	for {
		i := strings.Index(rest, "${{")
		if i < 0 {
			break
		}
		j := exprEnd(rest[i+3:])
		if j < 0 {
			break
		}
		format.WriteString(escapeFormat(rest[:i]))
		fmt.Fprintf(&format, "{%d}", len(args))
		args = append(args, strings.TrimSpace(rest[i+3:i+3+j]))
		rest = rest[i+3+j+2:]
	}
	if len(args) == 0 {
		return nil, false
	}
	format.WriteString(escapeFormat(rest))
	if format.String() == "{0}" {
		if lit, ok := stringLiteral(args[0]); ok {
			return lit, true
		}
		return "expr:" + args[0], true
	}
	return fmt.Sprintf("expr:format('%s', %s)", format.String(), strings.Join(args, ", ")), true
}

// exprEnd returns the index of the "}}" closing an expression body, skipping
// '…' string literals, or -1.
func exprEnd(s string) int {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\'':
			quoted = !quoted
		case !quoted && strings.HasPrefix(s[i:], "}}"):
			return i
		}
	}
	return -1
}

// stringLiteral unquotes a lone '…' literal (” is a quote).
func stringLiteral(e string) (string, bool) {
	if len(e) < 2 || e[0] != '\'' || e[len(e)-1] != '\'' {
		return "", false
	}
	body := e[1 : len(e)-1]
	if strings.Contains(strings.ReplaceAll(body, "''", ""), "'") {
		return "", false
	}
	return strings.ReplaceAll(body, "''", "'"), true
}

func escapeFormat(s string) string {
	return strings.NewReplacer("'", "''", "{", "{{", "}", "}}").Replace(s)
}
