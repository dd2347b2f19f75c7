package runner

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/namespace"
)

// startNamespace starts a bubblewrap sandbox, or skips where bubblewrap or
// root is missing (failing instead under CI=true).
func startNamespace(t *testing.T) *Guest {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the namespace sandbox needs bubblewrap and root (CI=true: not skipping): %v", err)
		}
		t.Skip("the namespace sandbox needs bubblewrap and root")
	}
	b, err := namespace.New(namespace.Config{AgentPath: agenttest.Binary(t), WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := b.Start(context.Background(), sandbox.Spec{ID: "modes"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	return guestOf(inst)
}

// TestStepFileModes (issue 9, item 13): a step's script, which holds the
// secrets interpolated into it, and the files and directories the runner
// writes for the step (file commands, the event) are the job's alone: 0700
// directories, 0600 files (0700 for the script), owned by the job's uid.
func TestStepFileModes(t *testing.T) {
	src := `
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "token ${{ secrets.DEPLOY_TOKEN }}" > /dev/null
          stat -c '%a %u script' "$0"
          for f in "$GITHUB_ENV" "$GITHUB_OUTPUT" "$GITHUB_PATH" "$GITHUB_STATE" "$GITHUB_STEP_SUMMARY" "$GITHUB_EVENT_PATH"; do
            b=$(basename "$f")
            stat -c "%a %u ${b%_*}" "$f"
          done
          for d in "$(dirname "$GITHUB_ENV")" "$(dirname "$GITHUB_EVENT_PATH")" "$RUNNER_TEMP/_runner_file_commands"; do
            stat -c "%a %u dir $(basename "$d")" "$d"
          done
          id -u
`
	for _, backend := range []struct {
		name  string
		start func(*testing.T) *Guest
	}{{"host", startHost}, {"namespace", startNamespace}} {
		t.Run(backend.name, func(t *testing.T) {
			w, j := loadJob(t, src, "j")
			spec := &Spec{Workflow: w, Job: j, Secrets: map[string]string{"DEPLOY_TOKEN": "s3cr3t"},
				Event: EventInfo{Name: "push", Repo: "octo/hello", SHA: strings.Repeat("a", 40), Ref: "refs/heads/main", Payload: []byte(`{}`), Workflow: "CI"}}
			rec := newRecorder()
			res, err := Run(context.Background(), backend.start(t), spec, rec)
			if err != nil {
				t.Fatal(err)
			}
			if res.Conclusion != "success" {
				t.Fatalf("conclusion %s, want success; log:\n%s", res.Conclusion, rec.all())
			}
			lines := strings.Split(strings.TrimSpace(rec.log(1)), "\n")
			uid := lines[len(lines)-1]
			want := []string{"700 %s script", "600 %s set_env", "600 %s set_output", "600 %s add_path", "600 %s save_state",
				"600 %s step_summary", "600 %s event.json", "700 %s dir _runner_file_commands", "700 %s dir _github_workflow",
				"700 %s dir _runner_file_commands"}
			for i, w := range want {
				want[i] = fmt.Sprintf(w, uid)
			}
			if got := lines[:len(lines)-1]; strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("modes of the step's files:\ngot  %q\nwant %q", got, want)
			}
			if backend.name == "namespace" && uid != "1001" {
				t.Errorf("job uid in the namespace sandbox: got %s, want 1001", uid)
			}
		})
	}
}

// TestFileCommandFilesTakenOver: when a step starts, the previous step's
// file-command files are gone (GitHub's runner deletes them) and its own
// are empty, the previous step's outputs and env applied; the agent made
// them by renaming the previous ones (no inode allocated). A step that puts
// a symlink and a hard link to its own files in their place does not get
// the next step's rewrite to reach the files they lead to.
func TestFileCommandFilesTakenOver(t *testing.T) {
	src := `
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - id: one
        run: |
          echo "a=1" >> "$GITHUB_OUTPUT"
          echo "X=1" >> "$GITHUB_ENV"
          echo "$GITHUB_OUTPUT" > "$RUNNER_TEMP/prev_output"
          echo "$GITHUB_ENV" > "$RUNNER_TEMP/prev_env"
          stat -c %i "$GITHUB_OUTPUT" > "$RUNNER_TEMP/prev_inode"
      - run: |
          [ ! -e "$(cat "$RUNNER_TEMP/prev_output")" ] || { echo "the previous step's GITHUB_OUTPUT is still there"; exit 1; }
          [ ! -e "$(cat "$RUNNER_TEMP/prev_env")" ] || { echo "the previous step's GITHUB_ENV is still there"; exit 1; }
          [ -f "$GITHUB_OUTPUT" ] && [ ! -s "$GITHUB_OUTPUT" ] || { echo "GITHUB_OUTPUT is not a fresh empty file"; exit 1; }
          [ "${{ steps.one.outputs.a }}" = 1 ] && [ "$X" = 1 ] || { echo "the previous step's output or env was lost"; exit 1; }
          echo "inode $(cat "$RUNNER_TEMP/prev_inode") $(stat -c %i "$GITHUB_OUTPUT")"
          printf 'P=1\n' > "$RUNNER_TEMP/precious"
          printf 'q=1\n' > "$RUNNER_TEMP/precious2"
          rm "$GITHUB_ENV" && ln -s "$RUNNER_TEMP/precious" "$GITHUB_ENV"
          rm "$GITHUB_OUTPUT" && ln "$RUNNER_TEMP/precious2" "$GITHUB_OUTPUT"
      - run: |
          [ "$(cat "$RUNNER_TEMP/precious")" = "P=1" ] || { echo "the file behind the symlink was rewritten: $(cat "$RUNNER_TEMP/precious")"; exit 1; }
          [ "$(cat "$RUNNER_TEMP/precious2")" = "q=1" ] || { echo "the file behind the hard link was rewritten: $(cat "$RUNNER_TEMP/precious2")"; exit 1; }
          [ -f "$GITHUB_ENV" ] && [ ! -L "$GITHUB_ENV" ] && [ ! -s "$GITHUB_ENV" ] || { echo "GITHUB_ENV is not a fresh empty file"; exit 1; }
          echo "P=$P"
`
	for _, backend := range []struct {
		name  string
		start func(*testing.T) *Guest
	}{{"host", startHost}, {"namespace", startNamespace}} {
		t.Run(backend.name, func(t *testing.T) {
			w, j := loadJob(t, src, "j")
			spec := &Spec{Workflow: w, Job: j,
				Event: EventInfo{Name: "push", Repo: "octo/hello", SHA: strings.Repeat("a", 40), Ref: "refs/heads/main", Payload: []byte(`{}`), Workflow: "CI"}}
			rec := newRecorder()
			res, err := Run(context.Background(), backend.start(t), spec, rec)
			if err != nil {
				t.Fatal(err)
			}
			if res.Conclusion != "success" {
				t.Fatalf("conclusion %s, want success; log:\n%s", res.Conclusion, rec.all())
			}
			var before, after string
			if _, err := fmt.Sscanf(strings.TrimSpace(rec.log(2)), "inode %s %s", &before, &after); err != nil || before != after {
				t.Errorf("step 2's GITHUB_OUTPUT is not step 1's inode taken over: %q (%v)", rec.log(2), err)
			}
			if got := strings.TrimSpace(rec.log(3)); got != "P=1" {
				t.Errorf("step 3: %q, want the env the symlinked GITHUB_ENV gave (P=1)", got)
			}
		})
	}
}
