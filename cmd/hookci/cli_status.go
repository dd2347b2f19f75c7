package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookci/hookci/internal/web"
)

// hookci status: a running server's health, capacity, queue, last 24 hours
// and recent failures, from GET /api/overview. Exit statuses: 0 healthy,
// 1 unhealthy, 2 usage, 3 the server could not be asked (unreachable,
// refused the token, answered something else).

const (
	statusHealthy     = 0
	statusUnhealthy   = 1
	statusUsage       = 2
	statusUnreachable = 3
)

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := os.Getenv("HOOKCI_SERVER")
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	server := fs.String("server", def, "server `URL` (default $HOOKCI_SERVER or http://127.0.0.1:8080)")
	asJSON := fs.Bool("json", false, "print the server's JSON (for scripts)")
	colour := fs.String("color", "auto", "colour: auto (on a terminal), always, never")
	if err := fs.Parse(args); err != nil {
		return statusUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hookci status: unexpected argument %q\n", fs.Arg(0))
		return statusUsage
	}
	base := strings.TrimRight(*server, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		fmt.Fprintf(stderr, "hookci status: --server %q: want an http:// or https:// URL\n", *server)
		return statusUsage
	}
	var useColour bool
	switch *colour {
	case "auto":
		useColour = isTerminal(stdout)
	case "always":
		useColour = true
	case "never":
	default:
		fmt.Fprintf(stderr, "hookci status: --color %q: want auto, always or never\n", *colour)
		return statusUsage
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/overview", nil)
	if err != nil {
		fmt.Fprintf(stderr, "hookci status: %v\n", err)
		return statusUsage
	}
	if tok := os.Getenv("HOOKCI_API_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "hookci status: %s: %v\n", base, err)
		return statusUnreachable
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		fmt.Fprintf(stderr, "hookci status: reading the answer: %v\n", err)
		return statusUnreachable
	}
	var o web.OverviewJSON
	if (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable) || json.Unmarshal(body, &o) != nil {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		fmt.Fprintf(stderr, "hookci status: %s answered %s: %s\n", base, resp.Status, msg)
		return statusUnreachable
	}
	if *asJSON {
		stdout.Write(body)
	} else {
		printStatus(stdout, &o, useColour)
	}
	if !o.Healthy {
		return statusUnhealthy
	}
	return statusHealthy
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// printStatus writes the overview as aligned tables.
func printStatus(w io.Writer, o *web.OverviewJSON, colour bool) {
	paint := func(code, s string) string {
		if !colour {
			return s
		}
		return "\x1b[" + code + "m" + s + "\x1b[0m"
	}
	good := func(ok bool, s string) string {
		if ok {
			return paint("32", s)
		}
		return paint("1;31", s)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "HEALTH\t%s\n", good(o.Healthy, map[bool]string{true: "healthy", false: "UNHEALTHY"}[o.Healthy]))
	fmt.Fprintf(tw, "  store\t%s\n", good(o.Health.Store == "ok", o.Health.Store))
	fmt.Fprintf(tw, "  queue depth\t%d\n", o.Health.Queue)
	gh := o.Health.GitHub
	if o.Health.RateLimit != nil {
		gh += fmt.Sprintf(" (rate limit %d/%d left)", o.Health.RateLimit.Remaining, o.Health.RateLimit.Limit)
	}
	fmt.Fprintf(tw, "  github\t%s\n", good(o.Health.GitHub == "ok" || o.Health.GitHub == "not configured", gh))
	last := "never"
	if o.Health.LastDelivery != nil {
		last = o.Health.LastDelivery.Local().Format(time.DateTime) + " (" + o.Now.Sub(*o.Health.LastDelivery).Round(time.Second).String() + " ago)"
	}
	fmt.Fprintf(tw, "  last webhook\t%s\n", last)
	tw.Flush()
	if o.Sandbox != nil {
		fmt.Fprintln(w, "\nCAPACITY (default "+o.Sandbox.Default+")")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  BACKEND\tRUNNING\tWARM\tMAX\tVM MEMORY")
		for _, b := range o.Sandbox.Backends {
			if b.Error != "" {
				fmt.Fprintf(tw, "  %s\t%s\n", b.Name, paint("31", "unavailable: "+b.Error))
				continue
			}
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d MiB\n", b.Name, b.Running, b.Warm, b.Max, b.MemoryMiB)
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "\nQUEUE")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	oldest := "—"
	if o.Queue.OldestWait != "" {
		oldest = o.Queue.OldestWait
	}
	fmt.Fprintf(tw, "  waiting for a sandbox\t%d\t(oldest %s)\n", o.Queue.Queued, oldest)
	fmt.Fprintf(tw, "  running\t%d\n", o.Queue.Running)
	fmt.Fprintf(tw, "  waiting on needs\t%d\n", o.Queue.Waiting)
	tw.Flush()
	fmt.Fprintln(w, "\nLAST 24 HOURS")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rate := "—"
	if o.Day.SuccessRate != nil {
		rate = fmt.Sprintf("%.1f %%", *o.Day.SuccessRate*100)
	}
	fmt.Fprintf(tw, "  success rate\t%s\n", rate)
	fmt.Fprintf(tw, "  runs\t%s\n", counts(o.Day.Runs))
	fmt.Fprintf(tw, "  deliveries\t%s\n", counts(o.Day.Deliveries))
	tw.Flush()
	if len(o.Day.Workflows) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  REPOSITORY\tWORKFLOW\tRUNS\tFAILED\tP50\tP95")
		for _, wf := range o.Day.Workflows {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\t%s\n", printable(wf.Repo), printable(wf.Workflow), wf.Runs, wf.Failed, secs(wf.P50), secs(wf.P95))
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "\nRECENT FAILURES")
	if len(o.Failed) == 0 {
		fmt.Fprintln(w, "  none")
		return
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  RUN\tREPOSITORY\tWORKFLOW\tBRANCH\tWHEN\tTITLE")
	for _, r := range o.Failed {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", paint("31", fmt.Sprintf("#%d", r.ID)), printable(r.Repo), printable(r.Workflow), printable(r.Branch),
			r.CreatedAt.Local().Format(time.DateTime), printable(r.Title))
	}
	tw.Flush()
}

func secs(f float64) string {
	return time.Duration(f * float64(time.Second)).Round(100 * time.Millisecond).String()
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// printable drops control characters (a commit title is the pusher's text:
// it must not drive the terminal).
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
}
