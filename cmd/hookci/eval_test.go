package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCmdEval: one JSON line per expression, also for expressions that start
// with '-' (not taken for flags), with contexts from a file, and the exit
// statuses of errors.
func TestCmdEval(t *testing.T) {
	ctxFile := filepath.Join(t.TempDir(), "contexts.json")
	if err := os.WriteFile(ctxFile, []byte(`{"github":{"ref":"refs/heads/main"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args       []string
		wantStatus int
		wantOut    string // stdout, exactly
		wantErr    string // in stderr
	}{
		{[]string{"1 + 1 == 2"}, 1, "", ""}, // '+' is not GitHub syntax: a parse error, one JSON line
		{[]string{"-1 < null"}, 0, `{"kind":"Boolean","value":true}` + "\n", ""},
		{[]string{"-(1)"}, 1, "", ""},
		{[]string{"--", "-2"}, 0, `{"kind":"Number","value":-2}` + "\n", ""},
		{[]string{"--contexts", ctxFile, "-1 < 0 && github.ref"}, 0, `{"kind":"String","value":"refs/heads/main"}` + "\n", ""},
		{[]string{"-contexts=" + ctxFile, "github.ref == 'refs/heads/main'"}, 0, `{"kind":"Boolean","value":true}` + "\n", ""},
		{[]string{}, 2, "", "usage"},
		{[]string{"1", "2"}, 2, "", "usage"},
	} {
		var out, errb bytes.Buffer
		got := cmdEval(context.Background(), tc.args, &out, &errb)
		if got != tc.wantStatus {
			t.Errorf("eval %q: status %d, want %d (stdout %q, stderr %q)", tc.args, got, tc.wantStatus, out.String(), errb.String())
		}
		if tc.wantOut != "" && out.String() != tc.wantOut {
			t.Errorf("eval %q: stdout %q, want %q", tc.args, out.String(), tc.wantOut)
		}
		if tc.wantStatus == 1 && !strings.HasPrefix(out.String(), `{"error":`) {
			t.Errorf("eval %q: stdout %q, want an error line", tc.args, out.String())
		}
		if !strings.Contains(errb.String(), tc.wantErr) {
			t.Errorf("eval %q: stderr %q, want it to contain %q", tc.args, errb.String(), tc.wantErr)
		}
	}
}
