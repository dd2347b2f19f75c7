package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCmdLint(t *testing.T) {
	root := t.TempDir()
	wfdir := filepath.Join(root, ".github", "workflows")
	if err := os.MkdirAll(wfdir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, src string) string {
		p := filepath.Join(wfdir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yml", "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n")
	bad := write("bad.yaml", "on: push\njobs:\n  a:\n    needs: nope\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n")
	warn := filepath.Join(root, "warn.yml")
	if err := os.WriteFile(warn, []byte("on: push\njobs:\n  a:\n    runs-on: my-label\n    steps:\n      - run: echo hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	oses := filepath.Join(root, "oses.yml")
	if err := os.WriteFile(oses, []byte("on: push\njobs:\n  t:\n    runs-on: ${{ matrix.os }}\n    strategy:\n      matrix:\n        os: [ubuntu-latest, windows-latest]\n    steps:\n      - run: echo hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	svc := filepath.Join(root, "svc.yml")
	if err := os.WriteFile(svc, []byte("on: push\njobs:\n  db:\n    runs-on: ubuntu-latest\n    container: node:20\n    services:\n      pg:\n        image: postgres\n    steps:\n      - run: echo hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantStatus int
		wantOut    []string
		wantErr    string
	}{
		{"clean file", []string{good}, 0, nil, ""},
		{"dir", []string{wfdir}, 1, []string{bad + `:3:3: job "a" needs job "nope" which does not exist in this workflow [job-needs]`}, ""},
		{"warning", []string{warn}, 1, []string{warn + `:4:14: label "my-label" is unknown.`, "[runner-label, warning]"}, ""},
		{"errors only", []string{"-errors-only", warn}, 0, nil, ""},
		// issue 13 item 0: a matrix leg on a label hookci does not serve.
		{"unserved label", []string{oses}, 1, []string{oses + `:3:3: jobs.t runs-on windows-latest: hookci's sandboxes run Linux`,
			`fails with "no runner for labels" unless the server maps the label ([labels.windows-latest])`, "[runner-os, warning]"}, ""},
		{"unserved label, errors only", []string{"-errors-only", oses}, 0, nil, ""},
		// issue 13 item 8 / issue 12: container jobs run on two of the backends.
		{"container and services", []string{svc}, 1, []string{svc + `:3:3: jobs.db.container: containers run only on the namespace and microvm sandbox backends`,
			svc + `:3:3: jobs.db.services: containers run only`, "on the host or firecracker backend this job is refused", "[containers, warning]"}, ""},
		{"container, errors only", []string{"-errors-only", svc}, 0, nil, ""},
		{"missing", []string{filepath.Join(root, "nope.yml")}, 1, nil, "no such file"},
		{"bad flag", []string{"-nope"}, 2, nil, "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			got := cmdLint(context.Background(), tt.args, &out, &errb)
			if got != tt.wantStatus {
				t.Errorf("status = %d, want %d; stdout:\n%s\nstderr:\n%s", got, tt.wantStatus, out.String(), errb.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout %q does not contain %q", out.String(), w)
				}
			}
			if len(tt.wantOut) == 0 && out.Len() > 0 {
				t.Errorf("stdout = %q, want empty", out.String())
			}
			if !strings.Contains(errb.String(), tt.wantErr) {
				t.Errorf("stderr %q does not contain %q", errb.String(), tt.wantErr)
			}
		})
	}
}

func TestCmdLintDefaultDir(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	var out, errb bytes.Buffer
	if got := cmdLint(context.Background(), nil, &out, &errb); got != 1 || !strings.Contains(errb.String(), ".github/workflows") {
		t.Errorf("status = %d, stderr %q; want 1 naming .github/workflows", got, errb.String())
	}
}
