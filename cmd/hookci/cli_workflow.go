package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// cmdWorkflow implements `hookci workflow list OWNER/NAME` and `hookci
// workflow enable|disable OWNER/NAME WORKFLOW` (as `gh workflow`): the
// repository's workflows with their state, and GitHub's enable/disable
// endpoints. A disabled workflow runs on no event; a scheduled one in a
// public repository is disabled after 60 days without a push
// (disabled_inactivity) until enabled.
func cmdWorkflow(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("workflow", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hookci workflow list OWNER/NAME\n       hookci workflow enable|disable OWNER/NAME WORKFLOW")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	want := map[string]int{"list": 2, "enable": 3, "disable": 3}
	if len(pos) == 0 || want[pos[0]] != len(pos) || !strings.Contains(pos[1], "/") ||
		len(pos) == 3 && strings.Contains(pos[2], "/") && !strings.HasPrefix(pos[2], ".github/workflows/") {
		fs.Usage()
		return exitUsage
	}
	c, err := cf.client()
	if err != nil {
		fmt.Fprintln(stderr, "hookci workflow:", err)
		return exitUsage
	}
	base := "/api/repos/" + pos[1] + "/actions/workflows"
	if pos[0] == "list" {
		var out struct {
			Workflows []struct {
				Name  string `json:"name"`
				Path  string `json:"path"`
				State string `json:"state"`
			} `json:"workflows"`
		}
		if err := c.getJSON(ctx, base, &out); err != nil {
			return cliFail(stderr, "workflow list", err)
		}
		if cf.json {
			cliJSON(stdout, out.Workflows)
			return exitOK
		}
		rows := [][]string{}
		for _, w := range out.Workflows {
			rows = append(rows, []string{w.Name, w.State, w.Path})
		}
		cliTable(stdout, []string{"NAME", "STATE", "PATH"}, rows)
		return exitOK
	}
	file := strings.TrimPrefix(pos[2], ".github/workflows/")
	resp, err := c.do(ctx, http.MethodPut, base+"/"+url.PathEscape(file)+"/"+pos[0], nil)
	if err != nil {
		return cliFail(stderr, "workflow "+pos[0], err)
	}
	resp.Body.Close()
	if cf.json {
		cliJSON(stdout, map[string]any{"repository": pos[1], "workflow": file, "enabled": pos[0] == "enable"})
		return exitOK
	}
	fmt.Fprintf(stdout, "%sd %s of %s\n", pos[0], file, pos[1])
	return exitOK
}
