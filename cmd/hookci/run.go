package main

import (
	"context"
	"io"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runLocal(ctx, args, stdout, stderr)
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runDemo(ctx, args, stdout, stderr)
}
