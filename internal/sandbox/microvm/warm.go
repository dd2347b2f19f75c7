package microvm

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/hookci/hookci/internal/agent"
)

// warmEnv is the environment of the warm-up's processes.
var warmEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/home/runner", "LANG=C.UTF-8"}

// warmGuest makes a template's guest do, once, what a job's set-up and
// first `run:` step make it do: untar a checkout-shaped tree into the
// workspace and the event files into the temp directory, run a bash script
// written with the exec (GITHUB_* files in and collected back), then remove
// all of it and check that the workspace and the temp directory are empty
// again. Under TCG a clone otherwise pays for the first use of each of
// these (page cache of bash and its libraries read from the root disk,
// dentries, the agent's heap): measured in bench/microvm -only firststep.
// Nothing of it is secret or job-specific: every clone starts from the
// same files as before, just warm.
func warmGuest(ctx context.Context, c *agent.Client) error {
	l := guestLayout
	if err := c.PutFiles(ctx, l.Workspace, bytes.NewReader(warmCheckout())); err != nil {
		return fmt.Errorf("workspace: %w", err)
	}
	events := tarOf([]tarEntry{{name: "_github_workflow/", dir: true}, {name: "_github_workflow/event.json", data: "{}"},
		{name: "_runner_file_commands/", dir: true}})
	if err := c.PutFiles(ctx, l.Temp, bytes.NewReader(events)); err != nil {
		return fmt.Errorf("temp: %w", err)
	}
	cmds := l.Temp + "/_runner_file_commands/"
	script := l.Temp + "/warm.sh"
	for range 2 {
		req := agent.ExecRequest{
			Argv: []string{"bash", "-e", script}, Env: append(warmEnv, "GITHUB_ENV="+cmds+"env", "GITHUB_OUTPUT="+cmds+"output"),
			Dir: l.Workspace,
			Files: []agent.FileSpec{{Path: script, Data: []byte("echo warm\nls -a . >/dev/null\necho k=v >> \"$GITHUB_OUTPUT\"\n"), Mode: 0o755},
				{Path: cmds + "env", Mode: 0o644}, {Path: cmds + "output", Mode: 0o644}},
			Collect: []string{cmds + "env", cmds + "output"},
		}
		var out bytes.Buffer
		res, err := c.Exec(ctx, req, &out)
		if err != nil {
			return fmt.Errorf("exec: %w", err)
		}
		if res.ExitCode != 0 || strings.TrimSpace(out.String()) != "warm" {
			return fmt.Errorf("exec: exit %d, output %q", res.ExitCode, out.String())
		}
	}
	// Leave nothing behind: a clone must start with the layout as the
	// guest init made it.
	clean := `find "$1" "$2" -mindepth 1 -delete; for d in "$1" "$2"; do test -z "$(ls -A "$d")" || { echo "$d not empty"; exit 1; }; done`
	var out bytes.Buffer
	res, err := c.Exec(ctx, agent.ExecRequest{Argv: []string{"bash", "-c", clean, "clean", l.Workspace, l.Temp}, Env: warmEnv, Dir: "/"}, &out)
	if err != nil {
		return fmt.Errorf("cleaning up: %w", err)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("cleaning up: exit %d: %s", res.ExitCode, out.String())
	}
	return nil
}

// warmCheckout is a tar shaped like a small repository's checkout: a few
// sources and a shallow .git of the usual layout.
func warmCheckout() []byte {
	var e []tarEntry
	for _, d := range []string{".git/", ".git/hooks/", ".git/info/", ".git/objects/", ".git/objects/pack/", ".git/objects/info/",
		".git/refs/", ".git/refs/heads/", ".git/refs/tags/", ".git/logs/", ".github/", ".github/workflows/", "src/"} {
		e = append(e, tarEntry{name: d, dir: true})
	}
	for _, f := range []string{".git/HEAD", ".git/config", ".git/description", ".git/shallow", ".git/index", ".git/info/exclude",
		".git/logs/HEAD", ".git/FETCH_HEAD", ".github/workflows/ci.yml", "README.md", "src/main.go", "src/main_test.go"} {
		e = append(e, tarEntry{name: f, data: strings.Repeat(path.Base(f)+"\n", 8)})
	}
	for i := range 16 {
		e = append(e, tarEntry{name: fmt.Sprintf(".git/hooks/hook-%d.sample", i), data: "#!/bin/sh\nexit 0\n", exec: true})
	}
	return tarOf(e)
}

type tarEntry struct {
	name      string
	data      string
	dir, exec bool
}

func tarOf(entries []tarEntry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg}
		switch {
		case e.dir:
			h.Mode, h.Size, h.Typeflag = 0o755, 0, tar.TypeDir
		case e.exec:
			h.Mode = 0o755
		}
		tw.WriteHeader(h)
		io.WriteString(tw, e.data)
	}
	tw.Close()
	return buf.Bytes()
}
