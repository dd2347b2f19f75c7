package web

import (
	"bufio"
	"bytes"
	"html/template"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"

	"github.com/hookci/hookci/internal/store"
)

// Rendering of logs and step summaries into the run page. Everything a job
// printed is untrusted: every byte is escaped, colours become class names
// (never inline styles), and markdown is rendered without raw HTML.

// logRenderer turns a job's log into HTML lines: ANSI SGR colours become
// spans with classes, ##[group]/##[endgroup] (and ::group::/::endgroup::)
// become <details>, ##[error]/##[warning]/##[notice]/##[debug] lines get a
// class, and each line has a number and an anchor (#job-<id>-L<n>, numbered
// through the whole job). Write takes pieces of any size; a line split
// between pieces is kept whole.
type logRenderer struct {
	w       *bufio.Writer
	jobID   int64
	line    int
	partial []byte
	inGroup bool
	sgr     sgrState
	times   []time.Time // of the lines not yet rendered, from WriteChunk (zero: unknown)
}

// WriteChunk renders a stored chunk, each line with the time it was
// written when the chunk has it (shown with "timestamps").
func (l *logRenderer) WriteChunk(c store.LogChunk) error {
	n := bytes.Count(c.Data, []byte("\n"))
	for i := range n {
		var t time.Time
		if i < len(c.Times) {
			t = c.Times[i]
		}
		l.times = append(l.times, t)
	}
	_, err := l.Write(c.Data)
	return err
}

func newLogRenderer(w io.Writer, jobID int64) *logRenderer {
	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriter(w)
	}
	return &logRenderer{w: bw, jobID: jobID}
}

// Write renders the complete lines of p, holding back a trailing partial line.
func (l *logRenderer) Write(p []byte) (int, error) {
	n := len(p)
	if len(l.partial) > 0 {
		p = append(l.partial, p...)
		l.partial = nil
	}
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			break
		}
		l.renderLine(p[:i])
		p = p[i+1:]
	}
	if len(p) > 0 {
		l.partial = append([]byte(nil), p...)
	}
	return n, nil
}

// EndStep renders a held partial line and closes an open group; the colour
// state does not cross steps.
func (l *logRenderer) EndStep() error {
	if len(l.partial) > 0 {
		l.renderLine(l.partial)
		l.partial = nil
	}
	if l.inGroup {
		l.w.WriteString("</details>")
		l.inGroup = false
	}
	l.sgr = sgrState{}
	l.times = l.times[:0]
	return l.w.Flush()
}

func (l *logRenderer) renderLine(raw []byte) {
	s := strings.TrimRight(string(raw), "\r")
	var at time.Time
	if len(l.times) > 0 {
		at, l.times = l.times[0], l.times[1:]
	}
	l.line++
	kind, text := "", s
	for _, c := range []struct{ prefix, kind string }{
		{"##[group]", "group"}, {"::group::", "group"}, {"##[endgroup]", "endgroup"}, {"::endgroup::", "endgroup"},
		{"##[error]", "error"}, {"##[warning]", "warning"}, {"##[notice]", "notice"}, {"##[debug]", "debug"},
	} {
		if rest, ok := strings.CutPrefix(s, c.prefix); ok {
			kind, text = c.kind, rest
			break
		}
	}
	id := "job-" + strconv.FormatInt(l.jobID, 10) + "-L" + strconv.Itoa(l.line)
	open := `<div class="l" id="` + id + `"><a class="n" href="#` + id + `">` + strconv.Itoa(l.line) + `</a>`
	if !at.IsZero() {
		open += `<span class="ts">` + store.FormatLineTime(at) + ` </span>`
	}
	switch kind {
	case "group":
		if l.inGroup { // groups do not nest (as on GitHub): a new one ends the last
			l.w.WriteString("</details>")
		}
		l.inGroup = true
		l.w.WriteString(`<details class="grp"><summary>` + open + `<span class="c">`)
		l.writeText(text)
		l.w.WriteString("</span></div></summary>")
		return
	case "endgroup":
		if l.inGroup {
			l.w.WriteString("</details>")
			l.inGroup = false
		}
		l.line-- // not shown, not numbered
		return
	}
	cls := ""
	if kind != "" {
		cls = " " + kind
	}
	l.w.WriteString(open + `<span class="c` + cls + `">`)
	l.writeText(text)
	l.w.WriteString("</span></div>\n")
}

// writeText writes text escaped, its ANSI escape sequences turned into spans.
func (l *logRenderer) writeText(s string) {
	open := false
	if cls := l.sgr.classes(); cls != "" {
		l.w.WriteString(`<span class="` + cls + `">`)
		open = true
	}
	for len(s) > 0 {
		i := strings.IndexByte(s, 0x1b)
		if i < 0 {
			template.HTMLEscape(l.w, []byte(s))
			break
		}
		template.HTMLEscape(l.w, []byte(s[:i]))
		s = s[i:]
		params, final, n := parseCSI(s)
		s = s[n:]
		if final != 'm' {
			continue // other escapes (cursor moves, erase line) are dropped
		}
		l.sgr.apply(params)
		if open {
			l.w.WriteString("</span>")
			open = false
		}
		if cls := l.sgr.classes(); cls != "" {
			l.w.WriteString(`<span class="` + cls + `">`)
			open = true
		}
	}
	if open {
		l.w.WriteString("</span>")
	}
}

// parseCSI reads an escape sequence at the start of s (s[0] is ESC): its
// parameters and final byte for a CSI ("ESC [ … final"), 0 for anything
// else, and how many bytes it spans.
func parseCSI(s string) (params []int, final byte, n int) {
	if len(s) < 2 || s[1] != '[' {
		return nil, 0, min(len(s), 2) // ESC and the byte after it
	}
	cur, has := 0, false
	for i := 2; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if cur < 1<<16 {
				cur = cur*10 + int(c-'0')
			}
			has = true
		case c == ';' || c == ':':
			params = append(params, cur)
			cur, has = 0, false
		case c >= 0x40 && c <= 0x7e:
			if has || len(params) > 0 {
				params = append(params, cur)
			}
			return params, c, i + 1
		case c >= 0x20 && c <= 0x3f: // intermediate and private bytes
		default:
			return nil, 0, i // not a CSI after all: drop ESC [ and what came so far
		}
	}
	return nil, 0, len(s)
}

// sgrState is the current graphic rendition: colours 0–15 (-1: default).
type sgrState struct {
	fg, bg                     int // colour+1; 0 is the default
	bold, dim, italic, underln bool
}

func (g *sgrState) apply(p []int) {
	if len(p) == 0 {
		p = []int{0}
	}
	for i := 0; i < len(p); i++ {
		switch v := p[i]; {
		case v == 0:
			*g = sgrState{}
		case v == 1:
			g.bold = true
		case v == 2:
			g.dim = true
		case v == 3:
			g.italic = true
		case v == 4:
			g.underln = true
		case v == 22:
			g.bold, g.dim = false, false
		case v == 23:
			g.italic = false
		case v == 24:
			g.underln = false
		case v >= 30 && v <= 37:
			g.fg = v - 30 + 1
		case v == 39:
			g.fg = 0
		case v >= 40 && v <= 47:
			g.bg = v - 40 + 1
		case v == 49:
			g.bg = 0
		case v >= 90 && v <= 97:
			g.fg = v - 90 + 8 + 1
		case v >= 100 && v <= 107:
			g.bg = v - 100 + 8 + 1
		case v == 38 || v == 48:
			// 38;5;n (256 colours: the first 16 kept, the rest dropped) or 38;2;r;g;b (dropped).
			c := 0
			if i+2 < len(p) && p[i+1] == 5 {
				if n := p[i+2]; n < 16 {
					c = n + 1
				}
				i += 2
			} else if i+4 < len(p) && p[i+1] == 2 {
				i += 4
			}
			if v == 38 {
				g.fg = c
			} else {
				g.bg = c
			}
		}
	}
}

// classes names the state's CSS classes ("" for the default).
func (g sgrState) classes() string {
	var c []string
	if g.fg > 0 {
		c = append(c, "f"+strconv.Itoa(g.fg-1))
	}
	if g.bg > 0 {
		c = append(c, "b"+strconv.Itoa(g.bg-1))
	}
	if g.bold {
		c = append(c, "bo")
	}
	if g.dim {
		c = append(c, "di")
	}
	if g.italic {
		c = append(c, "it")
	}
	if g.underln {
		c = append(c, "un")
	}
	return strings.Join(c, " ")
}

// renderMarkdown renders a step summary (GitHub-flavoured markdown) to
// HTML that is safe to put in the page: raw HTML in the markdown is left
// out (goldmark without WithUnsafe) and links or images to dangerous URLs
// (javascript:, vbscript:, file:, data: other than images) lose their URL.
func renderMarkdown(md string) (template.HTML, error) {
	var buf bytes.Buffer
	if err := goldmark.New(goldmark.WithExtensions(extension.GFM)).Convert([]byte(md), &buf); err != nil {
		return "", err
	}
	return template.HTML(buf.String()), nil // #nosec: raw HTML is not passed through (see above)
}
