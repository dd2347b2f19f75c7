package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/hookci/hookci/internal/trace"
)

// traceEnv names the file the phase trace is appended to (bench/phases).
const traceEnv = "HOOKCI_TRACE"

// withTrace returns ctx carrying a trace.Recorder appending to the file
// HOOKCI_TRACE names (without the variable, ctx unchanged), starts the CPU
// profile HOOKCI_CPUPROFILE names, and returns the function that ends both.
func withTrace(ctx context.Context, lookup func(string) (string, bool)) (context.Context, func(), error) {
	path, ok := lookup(traceEnv)
	stopProfile, err := withCPUProfile(lookup)
	if err != nil {
		return ctx, func() {}, err
	}
	if !ok || path == "" {
		return ctx, stopProfile, nil
	}
	r, closeFile, err := trace.OpenFile(path)
	if err != nil {
		stopProfile()
		return ctx, func() {}, fmt.Errorf("%s: %w", traceEnv, err)
	}
	return trace.NewContext(ctx, r), func() { recordCPU(r); closeFile(); stopProfile() }, nil
}

// cpuProfileEnv names the file a CPU profile of the whole command is
// written to (go tool pprof), for finding where a run's CPU goes.
const cpuProfileEnv = "HOOKCI_CPUPROFILE"

// withCPUProfile starts the CPU profile HOOKCI_CPUPROFILE asks for and
// returns the function that stops and writes it.
func withCPUProfile(lookup func(string) (string, bool)) (func(), error) {
	path, ok := lookup(cpuProfileEnv)
	if !ok || path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return func() {}, fmt.Errorf("%s: %w", cpuProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}, fmt.Errorf("%s: %w", cpuProfileEnv, err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// recordCPU records the CPU time (user+system) of this process and of the
// children it waited for (git, the agent, job shells) as two spans whose
// duration is that time.
func recordCPU(r *trace.Recorder) {
	now := time.Now()
	for _, w := range []struct {
		who  int
		name string
	}{{syscall.RUSAGE_SELF, "CPU: hookci process"}, {syscall.RUSAGE_CHILDREN, "CPU: child processes (waited for)"}} {
		var ru syscall.Rusage
		if syscall.Getrusage(w.who, &ru) == nil {
			r.Record(w.name, now, time.Duration(ru.Utime.Nano()+ru.Stime.Nano()))
		}
	}
}
