package runner

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Command
		ok   bool
	}{
		{"::add-mask::s3cret", Command{Name: "add-mask", Value: "s3cret"}, true},
		{"::error file=a.go,line=3,col=7::bad%0Athing", Command{Name: "error",
			Params: map[string]string{"file": "a.go", "line": "3", "col": "7"}, Value: "bad\nthing"}, true},
		{"::set-output name=x::1", Command{Name: "set-output", Params: map[string]string{"name": "x"}, Value: "1"}, true},
		{"::group::Build", Command{Name: "group", Value: "Build"}, true},
		{"::endgroup::", Command{Name: "endgroup"}, true},
		{"  ::warning title=a%2Cb::w", Command{Name: "warning", Params: map[string]string{"title": "a,b"}, Value: "w"}, true},
		{"plain output", Command{}, false},
		{":: no name::x", Command{}, false},
		{"::unterminated", Command{}, false},
	} {
		got, ok := ParseCommand(tc.line)
		if ok != tc.ok {
			t.Errorf("ParseCommand(%q) ok = %v, want %v", tc.line, ok, tc.ok)
			continue
		}
		if diff := cmp.Diff(tc.want, got); ok && diff != "" {
			t.Errorf("ParseCommand(%q) (-want +got):\n%s", tc.line, diff)
		}
	}
}

func TestParseEnvFile(t *testing.T) {
	in := "A=1\nB=x=y\nMULTI<<EOF\nline 1\nline 2\nEOF\n\nC=\nD<<ghadelimiter_1\n\nghadelimiter_1\n"
	got, err := ParseEnvFile([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"A", "1"}, {"B", "x=y"}, {"MULTI", "line 1\nline 2"}, {"C", ""}, {"D", ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"X<<EOF\nno end\n", "novalue\n", "=v\n"} {
		if _, err := ParseEnvFile([]byte(bad)); err == nil {
			t.Errorf("ParseEnvFile(%q) succeeded, want an error", bad)
		}
	}
}

func TestMasker(t *testing.T) {
	m := NewMasker("hunter2-secret", "")
	m.Add("multi\nline-value")
	for _, tc := range []struct{ in, want string }{
		{"token is hunter2-secret!", "token is ***!"},
		{"line-value here", "*** here"},
		{"nothing", "nothing"},
	} {
		if got := m.Mask(tc.in); got != tc.want {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// base64 forms, whatever precedes the secret.
	for _, prefix := range []string{"", "a", "ab", "user:"} {
		enc := base64.StdEncoding.EncodeToString([]byte(prefix + "hunter2-secret"))
		if got := m.Mask(enc); !strings.Contains(got, "***") {
			t.Errorf("base64 %q (prefix %q) not masked: %q", enc, prefix, got)
		}
	}
}
