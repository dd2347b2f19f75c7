package runner

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/hookci/hookci/internal/store"
)

// maxLine is where an unterminated line is cut and passed on anyway.
const maxLine = 64 << 10

// lineWriter splits a step's output into lines, acts on workflow commands,
// masks what is left and hands it to the sink.
type lineWriter struct {
	j         *Job
	idx       int
	buf       []byte
	outputs   map[string]string
	failed    bool
	stopToken string // while set, commands are not processed
	debug     bool
}

func newLineWriter(j *Job, idx int) *lineWriter {
	debug := j.Spec.Secrets["ACTIONS_STEP_DEBUG"] == "true" || j.Spec.Vars["ACTIONS_STEP_DEBUG"] == "true"
	return &lineWriter{j: j, idx: idx, outputs: map[string]string{}, debug: debug}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			for len(w.buf) >= maxLine {
				w.cut()
			}
			return len(p), nil
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}

// Flush passes on a last line without a newline.
func (w *lineWriter) Flush() {
	if len(w.buf) > 0 {
		w.line(string(w.buf))
		w.buf = nil
	}
}

// cut passes on the first part of an unterminated line of maxLine bytes or
// more as a line of its own. The masker chooses the cut so that a secret
// straddling it stays whole in the rest (and is masked there); the piece is
// log text, never a workflow command.
func (w *lineWriter) cut() {
	masked, n := w.j.Masker.MaskCut(string(w.buf), maxLine)
	w.j.sink.StepLog(w.idx, masked)
	w.buf = append(w.buf[:0], w.buf[n:]...)
}

func (w *lineWriter) emit(s string) {
	w.j.sink.StepLog(w.idx, w.j.Masker.Mask(strings.TrimRight(s, "\r")))
}

func (w *lineWriter) line(s string) {
	c, ok := ParseCommand(s)
	if w.stopToken != "" {
		if ok && c.Name == w.stopToken {
			w.stopToken = ""
			return
		}
		w.emit(s)
		return
	}
	if !ok {
		w.emit(s)
		return
	}
	switch c.Name {
	case "add-mask":
		w.j.Masker.Add(c.Value)
	case "set-output":
		w.outputs[c.Params["name"]] = c.Value
	case "save-state":
		w.j.saveState(c.Params["name"], c.Value)
	case "stop-commands":
		w.stopToken = c.Value
	case "group":
		w.emit("##[group]" + c.Value)
	case "endgroup":
		w.emit("##[endgroup]")
	case "debug":
		if w.debug {
			w.emit("##[debug]" + c.Value)
		}
	case "error", "warning", "notice":
		w.annotate(c)
	case "echo":
		// Command echoing is a display preference; nothing to do.
	case "set-env", "add-path":
		if w.allowUnsecure() {
			if c.Name == "set-env" {
				w.j.envAdds[c.Params["name"]] = c.Value
			} else {
				w.j.pathAdds = append([]string{c.Value}, w.j.pathAdds...)
			}
			return
		}
		w.emit("##[error]Unable to process command '" + s + "' successfully.")
		w.emit("##[error]The `" + c.Name + "` command is disabled. Please upgrade to using Environment Files or opt into unsecure command execution by setting the `ACTIONS_ALLOW_UNSECURE_COMMANDS` environment variable to `true`.")
		w.failed = true
	default:
		w.emit(s)
	}
}

func (w *lineWriter) allowUnsecure() bool {
	return w.j.jobEnv()["ACTIONS_ALLOW_UNSECURE_COMMANDS"] == "true"
}

func (w *lineWriter) annotate(c Command) {
	m := w.j.Masker.Mask
	a := store.Annotation{Level: c.Name, File: m(c.Params["file"]), Title: m(c.Params["title"]), Message: m(c.Value)}
	a.Line, _ = strconv.Atoi(c.Params["line"])
	a.EndLine, _ = strconv.Atoi(c.Params["endLine"])
	a.Column, _ = strconv.Atoi(c.Params["col"])
	a.EndColumn, _ = strconv.Atoi(c.Params["endColumn"])
	w.j.result.Annotations = append(w.j.result.Annotations, a)
	where := ""
	if a.File != "" {
		where = " " + a.File
		if a.Line > 0 {
			where += ":" + strconv.Itoa(a.Line)
		}
		where += ":"
	}
	w.emit("##[" + c.Name + "]" + strings.TrimPrefix(where, " ") + strings.TrimSpace(" "+a.Message))
}
