package workflow

import (
	"fmt"
	"slices"
	"strings"
)

// GraphError is a problem in the needs: graph (unknown job, cycle).
type GraphError struct {
	File    string
	Pos     Pos
	Message string
}

// Error renders "file:line:col: message".
func (e *GraphError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Col, e.Message)
}

// Stages orders the jobs into layers: every job's needs are in earlier
// layers, and each layer keeps file order. Job ids in needs match
// case-insensitively, as on GitHub. Unknown needs and cycles are a
// *GraphError with the position of the offending needs entry or job.
func (w *Workflow) Stages() ([][]*Job, error) {
	index := make(map[string]*Job, len(w.Jobs))
	for _, j := range w.Jobs {
		index[strings.ToLower(j.ID)] = j
	}
	for _, j := range w.Jobs {
		for i, n := range j.Needs {
			if index[strings.ToLower(n)] == nil {
				return nil, &GraphError{File: w.File, Pos: needPos(j, i), Message: fmt.Sprintf("job %q needs job %q which does not exist in this workflow", j.ID, n)}
			}
		}
	}
	level := make(map[*Job]int, len(w.Jobs))
	var stages [][]*Job
	for placed := 0; placed < len(w.Jobs); {
		var layer []*Job
		for _, j := range w.Jobs {
			if _, done := level[j]; !done && ready(j, index, level, len(stages)) {
				layer = append(layer, j)
			}
		}
		if len(layer) == 0 {
			return nil, w.cycleError(level)
		}
		for _, j := range layer {
			level[j] = len(stages)
		}
		stages = append(stages, layer)
		placed += len(layer)
	}
	return stages, nil
}

// ready reports whether all needs of j are placed in layers before cur.
func ready(j *Job, index map[string]*Job, level map[*Job]int, cur int) bool {
	for _, n := range j.Needs {
		l, ok := level[index[strings.ToLower(n)]]
		if !ok || l >= cur {
			return false
		}
	}
	return true
}

func (w *Workflow) cycleError(level map[*Job]int) error {
	var ids []string
	var first *Job
	for _, j := range w.Jobs {
		if _, ok := level[j]; !ok {
			if first == nil {
				first = j
			}
			ids = append(ids, j.ID)
		}
	}
	slices.Sort(ids)
	return &GraphError{File: w.File, Pos: first.Pos, Message: fmt.Sprintf("cyclic dependency in needs among jobs %s", strings.Join(ids, ", "))}
}

func needPos(j *Job, i int) Pos {
	if i < len(j.NeedsPos) {
		return j.NeedsPos[i]
	}
	return j.Pos
}
