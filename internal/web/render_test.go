package web

import (
	"bytes"
	"strings"
	"testing"
)

func renderLog(t *testing.T, jobID int64, pieces ...string) string {
	t.Helper()
	var buf bytes.Buffer
	lr := newLogRenderer(&buf, jobID)
	for _, p := range pieces {
		lr.Write([]byte(p))
	}
	if err := lr.EndStep(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestLogRenderer(t *testing.T) {
	cases := []struct {
		name   string
		pieces []string
		want   []string // substrings, in order
		not    []string
	}{
		{"colours become classes", []string{"\x1b[1;31mred bold\x1b[0m plain\n"},
			[]string{`<span class="f1 bo">red bold</span>`, ` plain`}, []string{"\x1b"}},
		{"bright and background", []string{"\x1b[92;44mx\x1b[39;49my\n"}, []string{`<span class="f10 b4">x</span>y`}, nil},
		{"256 colours below 16 kept, others dropped", []string{"\x1b[38;5;3ma\x1b[38;5;200mb\x1b[38;2;1;2;3mc\n"},
			[]string{`<span class="f3">a</span>b`, "c"}, []string{"38;5"}},
		{"colour carries to the next line", []string{"\x1b[32mgreen\nstill\n"},
			[]string{`<span class="f2">green</span>`, `<span class="f2">still</span>`}, nil},
		{"other escapes dropped", []string{"a\x1b[2Kb\x1b]0;title\x07c\n"}, []string{">ab"}, []string{"\x1b"}},
		{"HTML escaped", []string{"<script>alert(1)</script> & \"q\"\n"},
			[]string{"&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;q&#34;"}, []string{"<script>"}},
		{"line numbers and anchors", []string{"one\ntwo\n"},
			[]string{`id="job-7-L1"`, `href="#job-7-L1">1</a>`, `id="job-7-L2"`}, nil},
		{"line split between chunks kept whole", []string{"hel", "lo\nwor", "ld"},
			[]string{`<span class="c">hello</span>`, `<span class="c">world</span>`}, []string{"L3"}},
		{"groups fold", []string{"##[group]Install <b>\ninside\n##[endgroup]\nafter\n"},
			[]string{`<details class="grp"><summary>`, `Install &lt;b&gt;`, `inside`, `</details>`, `after`},
			[]string{"##[group]", "##[endgroup]"}},
		{"workflow-command groups fold", []string{"::group::G\nx\n::endgroup::\n"},
			[]string{`<details class="grp"><summary>`, "G</span>", "</details>"}, []string{"::group::"}},
		{"unclosed group closed at step end", []string{"##[group]G\nx\n"}, []string{"</details>"}, nil},
		{"error lines marked", []string{"##[error]boom\n"}, []string{`<span class="c error">boom</span>`}, nil},
	}
	for _, c := range cases {
		got := renderLog(t, 7, c.pieces...)
		at := 0
		for _, w := range c.want {
			i := strings.Index(got[at:], w)
			if i < 0 {
				t.Errorf("%s: got %q, want %q (in order)", c.name, got, w)
				break
			}
			at += i + len(w)
		}
		for _, n := range c.not {
			if strings.Contains(got, n) {
				t.Errorf("%s: got %q, must not contain %q", c.name, got, n)
			}
		}
	}
	// Numbering goes on through the job's steps.
	var buf bytes.Buffer
	lr := newLogRenderer(&buf, 3)
	lr.Write([]byte("a\n"))
	lr.EndStep()
	lr.Write([]byte("b\n"))
	lr.EndStep()
	if !strings.Contains(buf.String(), `id="job-3-L2"`) {
		t.Errorf("second step's first line: got %q, want job-3-L2", buf.String())
	}
}

// A step summary is the job's own text: raw HTML must not pass and
// dangerous link targets must lose their URL.
func TestRenderMarkdownIsSafe(t *testing.T) {
	md := "# Report\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>document.title='pwned'</script>\n\n" +
		"<img src=x onerror=\"document.title='pwned'\">\n\n[click](javascript:document.title='pwned') " +
		"[ok](https://example.com/x) ![i](data:text/html;base64,PHNjcmlwdD4=)\n\n<a href=\"javascript:x\">raw</a>\n"
	h, err := renderMarkdown(md)
	if err != nil {
		t.Fatal(err)
	}
	got := string(h)
	for _, bad := range []string{"<script", "onerror", "javascript:", "<img src=\"x\"", "data:text/html", `<a href="javascript`} {
		if strings.Contains(strings.ToLower(got), bad) {
			t.Errorf("rendered summary contains %q:\n%s", bad, got)
		}
	}
	for _, good := range []string{"<h1", "<table>", `href="https://example.com/x"`} {
		if !strings.Contains(got, good) {
			t.Errorf("rendered summary lacks %q:\n%s", good, got)
		}
	}
}

func TestLayoutGraph(t *testing.T) {
	jobs := []JobView{}
	for _, j := range []struct{ key, name, matrix string }{
		{"build", "build (1)", `{"v":1}`}, {"build", "build (2)", `{"v":2}`}, {"lint", "lint", ""}, {"test", "test", ""}, {"deploy", "deploy", ""},
	} {
		jv := JobView{}
		jv.Key, jv.Name, jv.Matrix = j.key, j.name, j.matrix
		jobs = append(jobs, jv)
	}
	cols := layoutGraph(jobs, map[string][]string{"test": {"build", "lint"}, "deploy": {"test"}})
	var got []string
	for _, c := range cols {
		var names []string
		for _, g := range c.Groups {
			names = append(names, g.Name+"×"+string(rune('0'+len(g.Legs))))
		}
		got = append(got, strings.Join(names, ","))
	}
	want := "build×2,lint×1|test×1|deploy×1"
	if strings.Join(got, "|") != want {
		t.Errorf("got columns %q, want %q", strings.Join(got, "|"), want)
	}
}
