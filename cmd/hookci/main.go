// Command hookci is the self-hosted CI server for GitHub and its tools:
// serve (the server), run (run a repository's workflows locally), demo,
// eval, lint, image, doctor and version. main only parses flags and config
// and hands them to run functions.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

type command struct {
	run  func(ctx context.Context, args []string, stdout, stderr io.Writer) int
	help string
}

func commands() map[string]command {
	return map[string]command{
		"serve":   {cmdServe, "run the server: receive webhooks, run workflows, report to GitHub"},
		"run":     {cmdRun, "run a repository's workflows locally, with no server and no GitHub"},
		"demo":    {cmdDemo, "start a server with a sample repository and send it a signed webhook"},
		"eval":    {cmdEval, "evaluate a ${{ }} expression"},
		"lint":    {cmdLint, "check workflow files"},
		"image":   {cmdImage, "build the guest image (kernel and root filesystem) for sandboxes"},
		"doctor":  {cmdDoctor, "report what this host can run"},
		"store":   {cmdStore, "store copy: move the SQLite store's history to PostgreSQL"},
		"version": {cmdVersion, "print the version"},
		"status":  {cmdStatus, "a running server's health, capacity, queue and recent activity (--server, $HOOKCI_API_TOKEN)"},
		// Client commands: a running server's API (cli_*.go).
		"runs":     {cmdRuns, "list workflow runs of a server"},
		"logs":     {cmdLogs, "print or follow a run's or job's log"},
		"cancel":   {cmdCancel, "cancel a run or job"},
		"rerun":    {cmdRerun, "re-run a run (all or failed jobs) or a job as a new attempt"},
		"dispatch": {cmdDispatch, "start a workflow_dispatch run with inputs"},
		"workflow": {cmdWorkflow, "list a repository's workflows, enable or disable one"},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(runCommand(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "hookci: unknown command %q\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: hookci <command> [flags]\n\ncommands:")
	for _, name := range []string{"serve", "run", "demo", "eval", "lint", "image", "doctor", "store", "version", "status"} {
		fmt.Fprintf(w, "  %-8s %s\n", name, cmds[name].help)
	}
	fmt.Fprintln(w, "\nclient commands (--server URL or $HOOKCI_SERVER, token in $HOOKCI_API_TOKEN or --token-file):")
	for _, name := range []string{"runs", "logs", "cancel", "rerun", "dispatch", "workflow"} {
		fmt.Fprintf(w, "  %-8s %s\n", name, cmds[name].help)
	}
}

func cmdVersion(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stdout, "hookci", version)
	return 0
}
