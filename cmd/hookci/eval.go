package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hookci/hookci/internal/expr"
)

// evalArgs ends the flags before the first argument that is not one of
// eval's own flags, so that an expression starting with '-' ('-1 < null',
// '-(1)') is the expression, not an unknown flag.
func evalArgs(args []string) []string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return args
		case a == "-contexts" || a == "--contexts":
			i++ // its value follows
		case strings.HasPrefix(a, "-contexts=") || strings.HasPrefix(a, "--contexts="),
			a == "-h" || a == "-help" || a == "--help":
		default:
			return append(append(args[:i:i], "--"), args[i:]...)
		}
	}
	return args
}

// cmdEval implements `hookci eval [--contexts FILE.json] 'EXPR'`: it
// evaluates EXPR (written as inside `${{ }}`) and prints one JSON line,
// {"kind":"Number","value":1} (exit 0) or
// {"error":{"kind":"parsing","message":"…"}} (exit 1). The contexts file is
// a JSON object of context name → value; only those contexts may be used.
// Status functions see a job that has succeeded so far. Usage errors go to
// stderr with exit 2.
func cmdEval(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	_ = ctx // evaluation is pure and fast; nothing to cancel
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	contextsFile := fs.String("contexts", "", "JSON `file` holding an object of context name → value")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hookci eval [--contexts FILE.json] 'EXPR'")
		fs.PrintDefaults()
	}
	if err := fs.Parse(evalArgs(args)); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	env, err := loadEvalContexts(*contextsFile)
	if err != nil {
		fmt.Fprintf(stderr, "hookci eval: %v\n", err)
		return 2
	}
	v, err := expr.Evaluate(fs.Arg(0), env)
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	if err != nil {
		out := evalErrorLine{}
		out.Error.Kind, out.Error.Message = "evaluation", err.Error()
		var ee *expr.Error
		if errors.As(err, &ee) {
			out.Error.Kind = ee.Kind.String()
		}
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "hookci eval: %v\n", err)
		}
		return 1
	}
	if err := enc.Encode(evalResultLine{Kind: v.Kind().String(), Value: v}); err != nil {
		fmt.Fprintf(stderr, "hookci eval: %v\n", err)
		return 1
	}
	return 0
}

type evalResultLine struct {
	Kind  string     `json:"kind"`
	Value expr.Value `json:"value"`
}

type evalErrorLine struct {
	Error struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
	} `json:"error"`
}

// loadEvalContexts reads the --contexts file ("" = no contexts).
func loadEvalContexts(path string) (*expr.Env, error) {
	env := &expr.Env{Contexts: map[string]expr.Value{}, Status: expr.JobSuccess}
	if path == "" {
		return env, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading contexts: %w", err)
	}
	v, err := expr.FromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("contexts file %s: %w", path, err)
	}
	if v.Kind() != expr.KindObject {
		return nil, fmt.Errorf("contexts file %s: want a JSON object of context name → value, got %s", path, v.Kind())
	}
	v.Object().Range(func(name string, val expr.Value) bool {
		env.Contexts[name] = val
		return true
	})
	return env, nil
}
