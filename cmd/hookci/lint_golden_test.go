package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/golden"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestCmdLintGolden: `hookci lint` output for each workflow under
// testdata/lint is testdata/lint/<name>.golden (stdout, stderr, exit status).
func TestCmdLintGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "lint", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows under testdata/lint: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out, errb bytes.Buffer
			status := cmdLint(context.Background(), []string{f}, &out, &errb)
			got := fmt.Sprintf("status %d\n-- stdout --\n%s-- stderr --\n%s", status, out.String(), errb.String())
			golden.Check(t, strings.TrimSuffix(f, ".yml")+".golden", got, *update)
		})
	}
}
