package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/hookci/hookci/internal/store"
)

// Logs are never loaded whole: every endpoint that shows one walks the
// store's chunks a page at a time (store.EachLog, EachStepLog) and writes
// each chunk to the response as it is read, so a request costs a few MiB
// whatever the log's size.

// apiLog is GET /api/jobs/{id}/log: a JSON array of {seq, step, data}
// chunks after ?after=, streamed.
func (s *Server) apiLog(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.Error(w, "bad job id", http.StatusBadRequest)
		return
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if _, err := s.st.Queries().Job(r.Context(), id); err != nil {
		// An unknown job has an empty log, as before streaming.
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("[]\n"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString("[")
	first := true
	err := s.st.Queries().EachLog(r.Context(), id, after, func(c store.LogChunk) error {
		if !first {
			bw.WriteString(",")
		}
		first = false
		b, _ := json.Marshal(struct {
			Seq  int64  `json:"seq"`
			Step int    `json:"step"`
			Data string `json:"data"`
		}{c.Seq, c.StepIdx, string(c.Data)})
		_, err := bw.Write(b)
		return err
	})
	if err != nil {
		s.log.Warn("streaming a job log", "job", id, "err", err)
		return // the response is cut short: the client sees invalid JSON, not a wrong log
	}
	bw.WriteString("]\n")
	bw.Flush()
}

// writeRunJSON writes v as JSON, each step with its "log" streamed from the
// store: the shape RunView marshals to.
func (s *Server) writeRunJSON(ctx context.Context, w io.Writer, v *RunView) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	open := func(x any) {
		b, _ := json.Marshal(x)
		b = bytes.TrimSuffix(b, []byte("}"))
		bw.Write(b)
		if len(b) > 1 {
			bw.WriteString(",")
		}
	}
	open(v.Run)
	bw.WriteString(`"jobs":[`)
	for i, j := range v.Jobs {
		if i > 0 {
			bw.WriteString(",")
		}
		open(j.Job)
		bw.WriteString(`"steps":[`)
		for k, st := range j.Steps {
			if k > 0 {
				bw.WriteString(",")
			}
			open(st.Step)
			bw.WriteString(`"log":"`)
			esc := &jsonStringWriter{w: bw}
			if err := s.st.Queries().EachStepLog(ctx, j.ID, st.Index, func(c store.LogChunk) error {
				return esc.write(c.Data)
			}); err != nil {
				return err
			}
			esc.close()
			bw.WriteString(`"}`)
		}
		bw.WriteString("]}")
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}

// jsonStringWriter writes the inside of a JSON string in pieces, keeping a
// UTF-8 sequence split between pieces whole.
type jsonStringWriter struct {
	w     io.Writer
	carry []byte
}

func (j *jsonStringWriter) write(p []byte) error {
	buf := append(j.carry, p...)
	j.carry = nil
	// Hold back an incomplete rune at the end for the next piece.
	for i := len(buf) - 1; i >= 0 && i >= len(buf)-utf8.UTFMax; i-- {
		if utf8.RuneStart(buf[i]) {
			if !utf8.FullRune(buf[i:]) {
				j.carry = append([]byte(nil), buf[i:]...)
				buf = buf[:i]
			}
			break
		}
	}
	return j.emit(buf)
}

func (j *jsonStringWriter) emit(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	b, _ := json.Marshal(string(p))
	_, err := j.w.Write(b[1 : len(b)-1])
	return err
}

func (j *jsonStringWriter) close() error {
	c := j.carry
	j.carry = nil
	return j.emit(c)
}

// writeTimedLines writes a chunk as GitHub's raw logs: each line that has
// its time prefixed with it ("2026-12-04T15:30:01.1234567Z line"); lines
// without one (chunks stored before line times) as they are.
func writeTimedLines(w io.Writer, c store.LogChunk) error {
	if len(c.Times) == 0 {
		_, err := w.Write(c.Data)
		return err
	}
	data, buf := c.Data, make([]byte, 0, len(c.Data)+29*len(c.Times))
	for i := 0; len(data) > 0; i++ {
		line := data
		if j := bytes.IndexByte(data, '\n'); j >= 0 {
			line = data[:j+1]
		}
		data = data[len(line):]
		if i < len(c.Times) {
			buf = append(buf, store.FormatLineTime(c.Times[i])...)
			buf = append(buf, ' ')
		}
		buf = append(buf, line...)
	}
	_, err := w.Write(buf)
	return err
}
