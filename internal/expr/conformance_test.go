package expr

import (
	"bufio"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// conformanceCase is one case of GitHub's cross-language expression tests.
type conformanceCase struct {
	ID       string
	Expr     string          `json:"expr"`
	Contexts json.RawMessage `json:"contexts"`
	Result   *struct {
		Kind  string          `json:"kind"`
		Value json.RawMessage `json:"value"`
	} `json:"result"`
	Err *struct {
		Kind  string `json:"kind"`
		Value string `json:"value"`
	} `json:"err"`
}

func loadConformance(t testing.TB) []conformanceCase {
	dir := filepath.Join(corpusDir(t, "actions-languageservices"), "expressions", "testdata")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no conformance files in %s: %v", dir, err)
	}
	var cases []conformanceCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var groups map[string][]conformanceCase
		if err := json.Unmarshal(data, &groups); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		names := make([]string, 0, len(groups))
		for g := range groups {
			names = append(names, g)
		}
		sort.Strings(names)
		for _, g := range names {
			for i, c := range groups[g] {
				c.ID = strings.TrimSuffix(filepath.Base(f), ".json") + "/" + g + "/" + itoa(i)
				cases = append(cases, c)
			}
		}
	}
	return cases
}

func itoa(i int) string { return FormatNumber(float64(i)) }

// runCase evaluates c and returns "" when it conforms, else what differs.
// msgOK reports whether an error message also matches GitHub's wording.
func runCase(c conformanceCase) (miss string, msgOK bool) {
	env := &Env{Contexts: map[string]Value{}}
	if len(c.Contexts) > 0 {
		v, err := FromJSON(c.Contexts)
		if err != nil || v.Kind() != KindObject {
			return "bad contexts: " + errString(err), false
		}
		v.Object().Range(func(k string, val Value) bool {
			env.Contexts[k] = val
			return true
		})
	}
	got, err := Evaluate(c.Expr, env)
	if c.Err != nil {
		var ee *Error
		if !errors.As(err, &ee) {
			return "want " + c.Err.Kind + " error, got " + got.Kind().String() + " " + ToJSON(got) + " err=" + errString(err), false
		}
		if ee.Kind.String() != c.Err.Kind {
			return "want " + c.Err.Kind + " error, got " + ee.Kind.String() + ": " + ee.Error(), false
		}
		return "", strings.Contains(ee.Error(), c.Err.Value)
	}
	if err != nil {
		return "want " + c.Result.Kind + ", got error: " + err.Error(), false
	}
	want, err := FromJSON(c.Result.Value)
	if err != nil {
		return "bad expected value: " + err.Error(), false
	}
	if got.Kind().String() != c.Result.Kind || !sameValue(got, want) {
		return "want " + c.Result.Kind + " " + string(c.Result.Value) + ", got " + got.Kind().String() + " " + ToJSON(got), false
	}
	return "", true
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// sameValue compares deeply: numbers as float64 (NaN equals NaN), object
// keys in order.
func sameValue(a, b Value) bool {
	if a.Kind() != b.Kind() {
		return false
	}
	switch a.Kind() {
	case KindNumber:
		x, y := a.AsNumber(), b.AsNumber()
		return x == y || math.IsNaN(x) && math.IsNaN(y)
	case KindArray:
		if a.Array().Len() != b.Array().Len() {
			return false
		}
		for i, v := range a.Array().Values() {
			if !sameValue(v, b.Array().At(i)) {
				return false
			}
		}
		return true
	case KindObject:
		ka, kb := a.Object().Keys(), b.Object().Keys()
		if len(ka) != len(kb) {
			return false
		}
		for i := range ka {
			if ka[i] != kb[i] || !sameValue(a.Object().Values()[i], b.Object().Values()[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

// knownMisses reads testdata/known_misses.txt: "<case id> # reason" lines.
func knownMisses(t *testing.T) map[string]string {
	f, err := os.Open(filepath.Join("testdata", "known_misses.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, reason, _ := strings.Cut(line, "#")
		m[strings.TrimSpace(id)] = strings.TrimSpace(reason)
	}
	return m
}

func TestConformance(t *testing.T) {
	cases := loadConformance(t)
	known := knownMisses(t)
	pass, msgPass, errCases := 0, 0, 0
	for _, c := range cases {
		miss, msgOK := runCase(c)
		if c.Err != nil {
			errCases++
			if msgOK {
				msgPass++
			}
		}
		if miss == "" {
			pass++
			if _, ok := known[c.ID]; ok {
				t.Logf("%s now passes: remove it from testdata/known_misses.txt", c.ID)
			}
			continue
		}
		if reason, ok := known[c.ID]; ok {
			t.Logf("known miss %s (%s): %s", c.ID, reason, miss)
			continue
		}
		t.Errorf("%s: %q: %s", c.ID, c.Expr, miss)
	}
	t.Logf("conformance: %d/%d cases pass (%.2f%%); error messages matching GitHub's wording: %d/%d",
		pass, len(cases), 100*float64(pass)/float64(len(cases)), msgPass, errCases)
	if len(cases) < 700 {
		t.Errorf("only %d conformance cases loaded, want the whole corpus (773)", len(cases))
	}
}

// TestRealWorldExpressionsParse checks that every expression of
// actionlint's bench corpus (real workflows) lexes and parses.
func TestRealWorldExpressionsParse(t *testing.T) {
	path := filepath.Join(corpusDir(t, "actionlint"), "testdata", "bench", "expressions.txt")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		n++
		if _, err := Parse(line, nil); err != nil {
			t.Errorf("line %d: %q: %v", i+1, line, err)
		}
	}
	t.Logf("%d real-world expressions parsed", n)
	if n < 1800 {
		t.Errorf("only %d expressions read, want 1858", n)
	}
}
