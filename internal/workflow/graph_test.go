package workflow

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func stageIDs(stages [][]*Job) [][]string {
	var out [][]string
	for _, s := range stages {
		var ids []string
		for _, j := range s {
			ids = append(ids, j.ID)
		}
		out = append(out, ids)
	}
	return out
}

func TestStages(t *testing.T) {
	w := &Workflow{File: "w.yml", Jobs: []*Job{
		{ID: "deploy", Needs: []string{"Build", "lint"}},
		{ID: "build"},
		{ID: "lint"},
		{ID: "test", Needs: []string{"build"}},
		{ID: "notify", Needs: []string{"deploy", "test"}},
	}}
	got, err := w.Stages()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"build", "lint"}, {"deploy", "test"}, {"notify"}}
	if diff := cmp.Diff(want, stageIDs(got)); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
}

func TestStagesErrors(t *testing.T) {
	tests := []struct {
		name string
		jobs []*Job
		want string
	}{
		{"unknown", []*Job{{ID: "a", Needs: []string{"b"}, NeedsPos: []Pos{{4, 12}}}}, `w.yml:4:12: job "a" needs job "b"`},
		{"cycle", []*Job{{ID: "a", Needs: []string{"b"}, Pos: Pos{3, 3}}, {ID: "b", Needs: []string{"a"}}, {ID: "c"}}, "w.yml:3:3: cyclic dependency in needs among jobs a, b"},
		{"self", []*Job{{ID: "a", Needs: []string{"a"}, Pos: Pos{3, 3}}}, "cyclic dependency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := (&Workflow{File: "w.yml", Jobs: tt.jobs}).Stages()
			var ge *GraphError
			if !errors.As(err, &ge) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Stages error = %v, want *GraphError containing %q", err, tt.want)
			}
		})
	}
}
