package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestExec(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("echo hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		req        ExecRequest
		want       ExecResult
		wantOutput string
	}{
		{"success", ExecRequest{Argv: []string{"true"}, Env: baseEnv()}, ExecResult{ExitCode: 0}, ""},
		{"exit code", ExecRequest{Argv: []string{"sh", "-c", "exit 42"}, Env: baseEnv()}, ExecResult{ExitCode: 42}, ""},
		{"signal", ExecRequest{Argv: []string{"sh", "-c", "kill -KILL $$"}, Env: baseEnv()}, ExecResult{ExitCode: -1, Signal: "SIGKILL"}, ""},
		{"sigterm", ExecRequest{Argv: []string{"sh", "-c", "kill -TERM $$"}, Env: baseEnv()}, ExecResult{ExitCode: -1, Signal: "SIGTERM"}, ""},
		{
			"interleaved stdout and stderr",
			ExecRequest{Argv: []string{"sh", "-c", "echo 1; echo 2 >&2; echo 3; echo 4 >&2"}, Env: baseEnv()},
			ExecResult{}, "1\n2\n3\n4\n",
		},
		{
			"environment is exactly the request's",
			ExecRequest{Argv: []string{"/usr/bin/env"}, Env: []string{"A=1", "B=two words"}},
			ExecResult{}, "A=1\nB=two words\n",
		},
		{
			"working directory created",
			ExecRequest{Argv: []string{"pwd"}, Env: baseEnv(), Dir: filepath.Join(dir, "new", "dir")},
			ExecResult{}, filepath.Join(dir, "new", "dir") + "\n",
		},
		{
			"PATH of the request",
			ExecRequest{Argv: []string{"sh", "-c", "echo $PATH"}, Env: []string{"PATH=/bin:/usr/bin"}},
			ExecResult{}, "/bin:/usr/bin\n",
		},
		{
			"not found",
			ExecRequest{Argv: []string{"no-such-command-hookci"}, Env: baseEnv()},
			ExecResult{ExitCode: 127}, "hookci-agent: cannot run no-such-command-hookci: command not found in PATH\n",
		},
		{
			"not executable",
			ExecRequest{Argv: []string{plain}, Env: baseEnv()},
			ExecResult{ExitCode: 126}, "hookci-agent: cannot run " + plain + ": " + plain + ": permission denied\n",
		},
	}
	clients := map[string]func(testing.TB) *Client{"unix": startServer, "pipe": startPipeServer}
	for transport, start := range clients {
		c := start(t)
		for _, tt := range tests {
			t.Run(transport+"/"+tt.name, func(t *testing.T) {
				var out strings.Builder
				got, err := c.Exec(context.Background(), tt.req, &out)
				if err != nil {
					t.Fatalf("Exec: %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("result (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.wantOutput, out.String()); diff != "" {
					t.Errorf("output (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestExecBadRequest(t *testing.T) {
	c := startServer(t)
	_, err := c.Exec(context.Background(), ExecRequest{}, io.Discard)
	if err == nil {
		t.Fatal("Exec with empty argv: got nil error")
	}
	var ie *InfraError
	if errors.As(err, &ie) {
		t.Errorf("Exec with empty argv: got InfraError %v, want a plain error", err)
	}
}

// TestExecStreams checks that output arrives while the process still runs.
func TestExecStreams(t *testing.T) {
	c := startServer(t)
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	w := newLineWatcher()
	done := make(chan error, 1)
	go func() {
		// Prints, then waits until the test saw the line and opened the gate.
		script := fmt.Sprintf("echo first; while [ ! -e %s ]; do sleep 0.01; done; echo second", gate)
		_, err := c.Exec(context.Background(), ExecRequest{Argv: []string{"sh", "-c", script}, Env: baseEnv()}, w)
		done <- err
	}()
	if got := w.nextLine(t); got != "first" {
		t.Fatalf("first line: got %q, want %q", got, "first")
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := w.String(), "first\nsecond\n"; got != want {
		t.Errorf("output: got %q, want %q", got, want)
	}
}

func TestExecCancelKillsProcessTree(t *testing.T) {
	tests := []struct {
		name   string
		cancel func(context.CancelFunc, *Client)
	}{
		{"context cancelled", func(cancel context.CancelFunc, c *Client) { cancel() }},
		{"client disconnects", func(cancel context.CancelFunc, c *Client) { c.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startServer(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// The shell and its background child ignore SIGTERM, so the agent must
			// escalate to SIGKILL; the child is a grandchild of the agent.
			script := `trap "" TERM; sleep 1000 & echo $!; echo $$; wait`
			w := newLineWatcher()
			errc := make(chan error, 1)
			go func() {
				_, err := c.Exec(ctx, ExecRequest{Argv: []string{"sh", "-c", script}, Env: baseEnv()}, w)
				errc <- err
			}()
			var pids []int
			for range 2 {
				pid, err := strconv.Atoi(w.nextLine(t))
				if err != nil {
					t.Fatal(err)
				}
				pids = append(pids, pid)
			}
			start := time.Now()
			tt.cancel(cancel, c)
			err := <-errc
			if err == nil {
				t.Fatal("Exec after cancellation: got nil error")
			}
			if tt.name == "context cancelled" && !errors.Is(err, context.Canceled) {
				t.Errorf("Exec error: got %v, want one wrapping context.Canceled", err)
			}
			if alive := waitGone(pids, 5*time.Second); len(alive) > 0 {
				t.Fatalf("processes %v still alive 5 s after cancellation", alive)
			}
			t.Logf("process tree gone %v after cancellation", time.Since(start).Round(time.Millisecond))
		})
	}
}

func TestExecLeavesBackgroundProcessesUntilShutdown(t *testing.T) {
	srv := NewServer(t.Logf)
	var out strings.Builder
	res := srv.run(context.Background(), ExecRequest{Argv: []string{"sh", "-c", "sleep 1000 >/dev/null 2>&1 & echo $!"}, Env: baseEnv()}, &out)
	if res.ExitCode != 0 {
		t.Fatalf("exit code: got %d, want 0 (output %q)", res.ExitCode, out.String())
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	if processGone(pid) {
		t.Fatalf("background process %d gone after the step ended, want it kept until Shutdown", pid)
	}
	srv.Shutdown()
	if alive := waitGone([]int{pid}, 5*time.Second); len(alive) > 0 {
		t.Fatalf("background process %d alive after Shutdown", pid)
	}
}

// TestExecBackgroundHoldingOutput checks that a background process keeping
// the output pipe open does not hold the step.
func TestExecBackgroundHoldingOutput(t *testing.T) {
	c := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out strings.Builder
	res, err := c.Exec(ctx, ExecRequest{Argv: []string{"sh", "-c", "sleep 1000 & echo main done"}, Env: baseEnv()}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || out.String() != "main done\n" {
		t.Errorf("got %+v %q, want exit 0 and %q", res, out.String(), "main done\n")
	}
}

// countingWriter counts bytes and tracks the peak heap while writing.
type countingWriter struct {
	n        int64
	nextPoll int64
	peakHeap uint64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	if w.n >= w.nextPoll {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.peakHeap = max(w.peakHeap, ms.HeapInuse)
		w.nextPoll = w.n + 8<<20
	}
	return len(p), nil
}

func TestExecLargeOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MB of output; skipped with -short")
	}
	c := startServer(t)
	const size = 100 << 20
	w := &countingWriter{}
	res, err := c.Exec(context.Background(), ExecRequest{Argv: []string{"head", "-c", strconv.Itoa(size), "/dev/zero"}, Env: baseEnv()}, w)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || w.n != size {
		t.Fatalf("got exit %d and %d bytes, want 0 and %d", res.ExitCode, w.n, size)
	}
	// Client and server share this process: the heap must stay far below
	// the size of the output, or something buffers all of it.
	if w.peakHeap > 48<<20 {
		t.Errorf("peak heap in use %d MiB while streaming %d MiB, want bounded (< 48 MiB)", w.peakHeap>>20, size>>20)
	}
	t.Logf("peak heap in use while streaming: %d MiB", w.peakHeap>>20)
}

func TestExecConcurrent(t *testing.T) {
	c := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 20
	dir := t.TempDir()
	// Every process waits until all n have started: this only finishes if the
	// Execs really run at the same time.
	script := fmt.Sprintf(`touch %s/$ID; while [ $(ls %s | wc -l) -lt %d ]; do sleep 0.01; done; echo $ID`, dir, dir, n)
	var wg sync.WaitGroup
	outs := make([]strings.Builder, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			env := append(baseEnv(), fmt.Sprintf("ID=%d", i))
			_, errs[i] = c.Exec(ctx, ExecRequest{Argv: []string{"sh", "-c", script}, Env: env}, &outs[i])
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("exec %d: %v", i, errs[i])
			continue
		}
		if got, want := outs[i].String(), fmt.Sprintf("%d\n", i); got != want {
			t.Errorf("exec %d output: got %q, want %q", i, got, want)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write(p []byte) (int, error) { return 0, errors.New("disk full") }

func TestExecOutputWriterFails(t *testing.T) {
	c := startServer(t)
	_, err := c.Exec(context.Background(), ExecRequest{Argv: []string{"sh", "-c", "echo hi; sleep 1000"}, Env: baseEnv()}, failingWriter{})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("got %v, want the writer's error", err)
	}
	var ie *InfraError
	if errors.As(err, &ie) {
		t.Errorf("got InfraError %v, want the writer's error", err)
	}
}

func TestExecFilesAndCollect(t *testing.T) {
	c := startServer(t)
	dir := t.TempDir()
	script := dir + "/sub/run.sh"
	out := dir + "/out"
	var buf strings.Builder
	res, err := c.Exec(context.Background(), ExecRequest{
		Argv:    []string{"sh", script},
		Env:     []string{"PATH=/usr/bin:/bin", "OUT=" + out},
		Files:   []FileSpec{{Path: script, Data: []byte("echo ran; echo 'k=v' > \"$OUT\"\n"), Mode: 0o755}, {Path: out, Data: nil, Mode: 0o666}},
		Collect: []string{out, dir + "/missing"},
	}, &buf)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Exec = %+v, %v", res, err)
	}
	if !res.CollectComplete || string(res.Files[out]) != "k=v\n" {
		t.Errorf("collected %+v (complete %v), want %s = k=v", res.Files, res.CollectComplete, out)
	}
	if _, ok := res.Files[dir+"/missing"]; ok {
		t.Error("a missing file was collected")
	}
	big := dir + "/big"
	res, err = c.Exec(context.Background(), ExecRequest{Argv: []string{"sh", "-c", "head -c 300000 /dev/zero > " + big},
		Env: []string{"PATH=/usr/bin:/bin"}, Collect: []string{big}}, &buf)
	if err != nil || res.CollectComplete {
		t.Errorf("oversized collect: complete %v, err %v; want an overflow", res.CollectComplete, err)
	}
	if _, err := c.Exec(context.Background(), ExecRequest{Argv: []string{"true"}, Files: []FileSpec{{Path: "relative"}}}, &buf); err == nil {
		t.Error("a relative file path was accepted")
	}
}
