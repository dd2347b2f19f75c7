package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// defaultPath is used when the request's environment has no PATH.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func (s *Server) handleExec(w http.ResponseWriter, r *http.Request) {
	var req ExecRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&req); err != nil {
		s.writeError(w, r, &requestError{"decoding exec request: " + err.Error()})
		return
	}
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		s.writeError(w, r, &requestError{"exec request: empty argv"})
		return
	}
	if req.Dir != "" {
		if err := os.MkdirAll(req.Dir, 0o755); err != nil {
			s.writeError(w, r, &requestError{"exec request: working directory: " + err.Error()})
			return
		}
	}
	for _, f := range req.Files {
		if err := writeSpec(f); err != nil {
			s.writeError(w, r, &requestError{"exec request: " + err.Error()})
			return
		}
	}
	w.Header().Set("Trailer", trailerExit+", "+trailerSignal+", "+trailerFiles)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	flush(w)
	res := s.run(r.Context(), req, w)
	w.Header().Set(trailerExit, strconv.Itoa(res.ExitCode))
	w.Header().Set(trailerSignal, res.Signal)
	if len(req.Collect) > 0 {
		w.Header().Set(trailerFiles, collect(req.Collect))
	}
}

// writeSpec writes one file of an exec request.
func writeSpec(f FileSpec) error {
	if !filepath.IsAbs(f.Path) {
		return fmt.Errorf("file path %q is not absolute", f.Path)
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil { // the job's alone, as the files
		return err
	}
	mode := f.Mode.Perm()
	if mode == 0 {
		mode = 0o644
	}
	if f.From != "" && filepath.IsAbs(f.From) && f.From != f.Path {
		if reuseFile(f.From, f.Path, f.Data, mode) {
			return nil
		}
		// A fresh name the job's processes may have learned from the
		// rename: created, never opened through what they put there.
		nf, err := os.OpenFile(f.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, mode)
		if err != nil {
			return err
		}
		return writeClose(nf, f.Data, mode)
	}
	if err := os.WriteFile(f.Path, f.Data, mode); err != nil {
		return err
	}
	return os.Chmod(f.Path, mode) // WriteFile keeps the mode of an existing file
}

// reuseFile renames from to path and rewrites it there: the previous
// step's file-command file becomes this step's without a new inode (on ext4
// without a journal every allocation walks the inodes freed in the last
// ~35 s). from was writable by the job's processes, some of which may
// still run: it is opened without following a link and used only if it is
// a regular file with one link, so that it cannot point the rewrite at
// another file. Otherwise it is put back and false says to create path.
func reuseFile(from, path string, data []byte, mode os.FileMode) bool {
	if fi, err := os.Lstat(from); err != nil || !fi.Mode().IsRegular() {
		return false
	}
	if err := os.Rename(from, path); err != nil {
		return false
	}
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err == nil {
		var st syscall.Stat_t
		if syscall.Fstat(int(f.Fd()), &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFREG && st.Nlink == 1 && f.Truncate(0) == nil {
			if writeClose(f, data, mode) == nil {
				return true
			}
			// Half written: renamed back below, path made afresh.
		} else {
			f.Close()
		}
	}
	// Not ours to rewrite (swapped for a link, a directory, a FIFO…):
	// back where it was, and path is made afresh.
	if os.Rename(path, from) != nil {
		os.Remove(path)
	}
	return false
}

// writeClose writes data to f, sets its mode and closes it.
func writeClose(f *os.File, data []byte, mode os.FileMode) error {
	_, err := f.Write(data)
	if cerr := f.Chmod(mode); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// collect encodes the collected files for the trailer, or "overflow".
func collect(paths []string) string {
	files := map[string][]byte{}
	total := 0
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		total += len(b)
		if total > MaxCollect {
			return "overflow"
		}
		files[p] = b
	}
	js, err := json.Marshal(files)
	if err != nil {
		return "overflow"
	}
	return base64.StdEncoding.EncodeToString(js)
}

// run starts req, copies its output to w until it exits (or ctx ends, which
// kills its process group) and returns how it ended.
func (s *Server) run(ctx context.Context, req ExecRequest, w io.Writer) ExecResult {
	cmd, err := command(req)
	if err != nil {
		return startFailure(w, req.Argv[0], err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return startFailure(w, req.Argv[0], err)
	}
	defer pr.Close()
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setCgroup(cmd.SysProcAttr, s.jobCgroup())
	err = cmd.Start()
	pw.Close()
	if err != nil {
		return startFailure(w, req.Argv[0], err)
	}
	pgid := cmd.Process.Pid
	s.addGroup(pgid)
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	copyDone := make(chan struct{})
	defer close(copyDone)
	go s.watch(ctx, pgid, pr, exited, copyDone)
	if copyErr := copyFlush(w, pr); copyErr != nil && ctx.Err() == nil {
		// The client stopped reading: treat it like a cancellation.
		s.logf("exec %q: output: %v", req.Argv[0], copyErr)
		s.terminate(pgid)
	}
	<-exited
	return exitResult(cmd.ProcessState)
}

// watch ends the output copy of an Exec: shortly after the main process
// exited (a background process may keep the pipe open), or after killing
// the process group when ctx ends.
func (s *Server) watch(ctx context.Context, pgid int, pr *os.File, exited, copyDone <-chan struct{}) {
	select {
	case <-exited:
	case <-ctx.Done():
		s.terminate(pgid)
	case <-copyDone:
		return
	}
	pr.SetReadDeadline(time.Now().Add(s.drain))
}

// terminate sends SIGTERM to the process group, waits for the group to empty
// for the grace period, then sends SIGKILL to whatever is left.
func (s *Server) terminate(pgid int) {
	killGroup(pgid, sigTerm)
	deadline := time.Now().Add(s.grace)
	for time.Now().Before(deadline) {
		if !groupAlive(pgid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	killGroup(pgid, sigKill)
}

// copyFlush copies r to w, flushing after every read so output streams live.
// It returns nil at EOF or when r's read deadline passes, and the write error
// if w fails.
func copyFlush(w io.Writer, r *os.File) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			flush(w)
		}
		if err != nil {
			return nil
		}
	}
}

func flush(w io.Writer) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// command builds the exec.Cmd for req with argv[0] resolved in req's PATH.
func command(req ExecRequest) (*exec.Cmd, error) {
	path, err := lookPath(req.Argv[0], req.Env, req.Dir)
	if err != nil {
		return nil, err
	}
	env := append([]string{}, req.Env...) // non-nil: inherit nothing
	return &exec.Cmd{Path: path, Args: req.Argv, Env: env, Dir: req.Dir}, nil
}

// lookPath resolves name like a shell would with the PATH in env.
func lookPath(name string, env []string, dir string) (string, error) {
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		return name, checkExecutable(p)
	}
	pathList := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathList = v
		}
	}
	var firstErr error
	for _, d := range filepath.SplitList(pathList) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) && dir != "" {
			d = filepath.Join(dir, d)
		}
		p := filepath.Join(d, name)
		err := checkExecutable(p)
		if err == nil {
			return p, nil
		}
		if firstErr == nil && !errors.Is(err, fs.ErrNotExist) {
			firstErr = err
		}
	}
	if firstErr != nil {
		return "", firstErr
	}
	return "", notFoundError{}
}

// notFoundError reports a program missing from PATH; it matches fs.ErrNotExist.
type notFoundError struct{}

func (notFoundError) Error() string        { return "command not found in PATH" }
func (notFoundError) Is(target error) bool { return target == fs.ErrNotExist }

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s: %w", p, fs.ErrPermission)
	}
	return nil
}

// startFailure reports a process that could not start the way a shell does:
// a message in the output and exit code 127 (not found) or 126.
func startFailure(w io.Writer, name string, err error) ExecResult {
	fmt.Fprintf(w, "hookci-agent: cannot run %s: %v\n", name, err)
	flush(w)
	if errors.Is(err, fs.ErrNotExist) {
		return ExecResult{ExitCode: 127}
	}
	return ExecResult{ExitCode: 126}
}

func exitResult(ps *os.ProcessState) ExecResult {
	if ps == nil {
		return ExecResult{ExitCode: -1}
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ExecResult{ExitCode: -1, Signal: signalName(ws.Signal())}
	}
	return ExecResult{ExitCode: ps.ExitCode()}
}
