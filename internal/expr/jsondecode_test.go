package expr

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// checkAgainstStdlib compares FromJSON with encoding/json on data: both
// accept or both reject, and accepted documents decode to the same values.
func checkAgainstStdlib(t *testing.T, name string, data []byte) {
	t.Helper()
	var want any
	wantErr := json.Unmarshal(data, &want)
	var typeErr *json.UnmarshalTypeError
	if errors.As(wantErr, &typeErr) {
		return // a number out of float64 range: FromJSON makes it ±Infinity, as JavaScript does
	}
	got, err := FromJSON(data)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%s: FromJSON error = %v, encoding/json error = %v", name, err, wantErr)
	}
	if err != nil {
		return
	}
	if diff := cmp.Diff(want, ToGo(got)); diff != "" {
		t.Fatalf("%s: FromJSON differs from encoding/json (-want +got):\n%s", name, diff)
	}
}

func TestFromJSONMatchesStdlibOnWebhookPayloads(t *testing.T) {
	dir := filepath.Join(corpusDir(t, "octokit-webhooks"), "payload-examples")
	n := 0
	err := filepath.WalkDir(dir, func(path string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checkAgainstStdlib(t, path, data)
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 200 {
		t.Errorf("only %d payloads checked, want the corpus (273)", n)
	}
}

func TestFromJSONEdgeCases(t *testing.T) {
	for _, in := range []string{
		`"\ud83d\ude00 \u00e9 \/ \b\f\n\r\t"`, `"\ud800"`, `"\udc00x"`, `"\ud800\u0041"`, "\"\xff\xfe\"",
		`-0`, `1e400`, `-1.5E-3`, ` [ 1 , { "a" : [ ] } ] `, `{"a":1,"a":2}`,
		`01`, `1.`, `.5`, `+1`, `[1,]`, `{"a":1,}`, `"\x"`, `"\u12"`, "\"a\nb\"", `tru`, `nulll`, `[`, `"`, ``,
	} {
		checkAgainstStdlib(t, in, []byte(in))
	}
	deep := strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1)
	if _, err := FromJSON([]byte(deep)); err == nil {
		t.Errorf("nesting %d deep: want an error", maxJSONDepth+1)
	}
	ok := strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth)
	if _, err := FromJSON([]byte(ok)); err != nil {
		t.Errorf("nesting %d deep: %v", maxJSONDepth, err)
	}
}

func FuzzFromJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e3,"x\u00e9",true,null,{}]}`, `"\ud83d\ude00"`, `[]`, `-0.0`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if strings.Count(string(data), "[")+strings.Count(string(data), "{") > maxJSONDepth {
			return // encoding/json's depth limit differs
		}
		checkAgainstStdlib(t, "fuzz input", data)
		if v, err := FromJSON(data); err == nil && allFinite(v) {
			js, _ := v.MarshalJSON()
			back, err := FromJSON(js)
			if err != nil || !sameValue(v, back) {
				t.Fatalf("round trip of %q via %s: %v", data, js, err)
			}
		}
	})
}

func BenchmarkFromJSONPayload(b *testing.B) {
	path := filepath.Join(corpusDir(b, "octokit-webhooks"), "payload-examples", "api.github.com", "pull_request", "assigned.payload.json")
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromJSON(data); err != nil {
			b.Fatal(err)
		}
	}
}

// allFinite reports whether every number in v is finite (JSON output
// cannot hold the others as numbers).
func allFinite(v Value) bool {
	switch v.Kind() {
	case KindNumber:
		return !math.IsInf(v.AsNumber(), 0) && !math.IsNaN(v.AsNumber())
	case KindArray:
		for _, e := range v.Array().Values() {
			if !allFinite(e) {
				return false
			}
		}
	case KindObject:
		for _, e := range v.Object().Values() {
			if !allFinite(e) {
				return false
			}
		}
	}
	return true
}
