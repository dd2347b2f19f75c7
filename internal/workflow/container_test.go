package workflow

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hookci/hookci/internal/expr"
)

const containerWorkflow = `on: push
jobs:
  a:
    runs-on: ubuntu-latest
    container:
      image: ${{ matrix.img }}
      credentials:
        username: u
        password: ${{ secrets.PW }}
      env:
        B: 2
        A: one
      options: --user 1000 -e X=1
    services:
      redis: redis:7
      postgres:
        image: postgres:16
        env:
          POSTGRES_PASSWORD: pw
        ports:
          - 5432:5432
          - 6000
        options: >-
          --health-cmd "pg_isready -U postgres"
          --health-interval 1s --health-timeout=2s --health-retries 5
      skipped:
        image: ${{ matrix.none }}
    steps:
      - run: echo
`

func TestEvalContainerAndServices(t *testing.T) {
	w, err := Load(".github/workflows/c.yml", []byte(containerWorkflow))
	if err != nil {
		t.Fatal(err)
	}
	env := &expr.Env{Contexts: map[string]expr.Value{
		"matrix":  expr.FromGo(map[string]any{"img": "debian:bookworm", "none": ""}),
		"secrets": expr.FromGo(map[string]any{"PW": "s3"}),
	}}
	c, err := w.Jobs[0].EvalContainer(env)
	if err != nil {
		t.Fatal(err)
	}
	want := &Container{Image: "debian:bookworm", Credentials: &Credentials{Username: "u", Password: "s3"},
		Env: []Var{{"A", "one"}, {"B", "2"}}, Options: "--user 1000 -e X=1"}
	if d := cmp.Diff(want, c); d != "" {
		t.Errorf("container (-want +got):\n%s", d)
	}
	svcs, err := w.Jobs[0].EvalServices(env)
	if err != nil {
		t.Fatal(err)
	}
	wantSvcs := []Service{
		{ID: "postgres", Container: Container{Image: "postgres:16", Env: []Var{{"POSTGRES_PASSWORD", "pw"}}, Ports: []string{"5432:5432", "6000"},
			Options: `--health-cmd "pg_isready -U postgres" --health-interval 1s --health-timeout=2s --health-retries 5`}},
		{ID: "redis", Container: Container{Image: "redis:7"}},
	}
	if d := cmp.Diff(wantSvcs, svcs); d != "" {
		t.Errorf("services (-want +got):\n%s", d)
	}
}

func TestParseOptions(t *testing.T) {
	ep := ""
	tests := []struct {
		in      string
		want    ContainerOptions
		wantErr string
	}{
		{in: "", want: ContainerOptions{HealthInterval: 30 * time.Second, HealthTimeout: 30 * time.Second, HealthRetries: 3}},
		{in: `--health-cmd "redis-cli ping" --health-interval=10s --health-timeout 5s --health-retries 5 -u 999:999 -w /app -e A=1 --env 'B=two words' --entrypoint ""`,
			want: ContainerOptions{HealthCmd: "redis-cli ping", HealthInterval: 10 * time.Second, HealthTimeout: 5 * time.Second, HealthRetries: 5,
				User: "999:999", Workdir: "/app", Env: []string{"A=1", "B=two words"}, Entrypoint: &ep}},
		{in: "--privileged", wantErr: "options: --privileged is not supported"},
		{in: "--cpus 1", wantErr: "options: --cpus is not supported"},
		{in: "--health-interval soon", wantErr: `--health-interval "soon": want a duration`},
		{in: "--health-retries 0", wantErr: `--health-retries "0": want a positive number`},
		{in: "--health-cmd", wantErr: "--health-cmd needs a value"},
		{in: `--health-cmd "unterminated`, wantErr: "unterminated quote"},
	}
	for _, tt := range tests {
		got, err := ParseOptions(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseOptions(%q): got error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseOptions(%q): %v", tt.in, err)
			continue
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("ParseOptions(%q) (-want +got):\n%s", tt.in, d)
		}
	}
}
