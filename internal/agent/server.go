package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"
)

// Server is the agent's side of the protocol. One Server serves any number
// of connections and remembers every process group it started, so that
// Shutdown can kill them all.
type Server struct {
	logf    func(format string, args ...any)
	grace   time.Duration // between SIGTERM and SIGKILL on cancellation
	drain   time.Duration // output drained after the main process exits
	handler http.Handler
	mux     *http.ServeMux
	ctrOnce sync.Once // ServeContainers registers the routes once

	mu       sync.Mutex   // guards the fields below
	groups   map[int]bool // process group ids started by Exec
	cgroupFD int          // cgroup (v2) directory processes start in; -1 for none
	cgroup   *os.File     // holds cgroupFD open (its finalizer would close it)

	ctrs     map[string]*guestContainer // containers started (container_linux.go); guarded by mu
	forwards []net.Listener             // relays' listeners (forward.go); guarded by mu
}

// SetJobCgroup makes every process Exec starts begin life in the cgroup v2
// directory dir (its limits then bound the job, not the agent). Linux only.
func (s *Server) SetJobCgroup(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("agent: job cgroup: %w", err)
	}
	s.mu.Lock()
	// Kept open for the server's life: the *os.File too, or the garbage
	// collector's finalizer closes the descriptor and every later Exec fails
	// with "fork/exec: bad file descriptor" (seen in a microVM after a few
	// PutFiles).
	s.cgroup, s.cgroupFD = f, int(f.Fd())
	s.mu.Unlock()
	return nil
}

func (s *Server) jobCgroup() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cgroupFD
}

// NewServer returns a Server that logs through logf (nil: no logging).
func NewServer(logf func(format string, args ...any)) *Server {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	s := &Server{
		logf:     logf,
		grace:    time.Second,
		drain:    200 * time.Millisecond,
		groups:   make(map[int]bool),
		cgroupFD: -1,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /exec", s.handleExec)
	mux.HandleFunc("PUT /files", s.handlePutFiles)
	mux.HandleFunc("GET /files", s.handleGetFiles)
	mux.HandleFunc("PUT /file", s.handleWriteFile)
	mux.HandleFunc("GET /file", s.handleReadFile)
	mux.HandleFunc("GET /info", s.handleInfo)
	mux.HandleFunc("POST /forward", s.handleForward)
	s.mux = mux
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(headerVersion, Version)
		mux.ServeHTTP(w, r)
	})
	return s
}

// ServeContainers adds the /containers routes (POST, DELETE,
// POST /containers/conn; container_linux.go), which start and reach guest
// containers as the agent's own user. Only the agent of a microVM guest
// calls it (hookci-agent --containers, set by the guest's init): there the
// agent is the guest's root and its only peer is the host, over a serial or
// vsock port no job process can open. A namespace or host sandbox's agent
// runs as the job's user on a socket the job might reach, so it never
// serves them (a request gets 404). Call it before serving; it does nothing
// on systems other than Linux.
func (s *Server) ServeContainers() {
	s.ctrOnce.Do(func() { s.containerRoutes(s.mux) })
}

// ServeConn serves one HTTP/2 session on conn until the peer goes away, the
// connection fails or ctx is done. Requests still running when it returns
// are cancelled (their process groups killed). It closes conn.
func (s *Server) ServeConn(ctx context.Context, conn net.Conn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	l := newConnListener(conn)
	srv := &http.Server{
		Handler:     s.handler,
		Protocols:   new(http.Protocols),
		BaseContext: func(net.Listener) context.Context { return ctx },
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed || st == http.StateHijacked {
				l.Close()
			}
		},
		HTTP2: &http.HTTP2Config{
			// The smallest frames HTTP/2 allows: a serial session whose host
			// vanished mid-frame is broken by at most this many bytes of HELLO
			// padding (see serial.go).
			MaxReadFrameSize: 16 << 10,
			// Notice a peer that vanished without closing (a serial port never closes).
			SendPingTimeout: 30 * time.Second,
			PingTimeout:     15 * time.Second,
		},
	}
	srv.Protocols.SetUnencryptedHTTP2(true)
	srv.Serve(l)
	<-l.done
	srv.Close()
	return ctx.Err()
}

// Serve accepts connections on l and serves each with ServeConn until ctx is
// done; it then closes l and returns ctx.Err(), or the Accept error that
// stopped it.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.ServeConn(ctx, conn)
		}()
	}
}

// Shutdown kills (SIGKILL) every process group this Server started that still
// has members, including background processes of finished Execs.
func (s *Server) Shutdown() {
	s.closeForwards()
	s.mu.Lock()
	defer s.mu.Unlock()
	for pgid := range s.groups {
		killGroup(pgid, sigKill)
		delete(s.groups, pgid)
	}
}

// addGroup records a process group and forgets groups that have no members left.
func (s *Server) addGroup(pgid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for g := range s.groups {
		if !groupAlive(g) {
			delete(s.groups, g)
		}
	}
	s.groups[pgid] = true
}

func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) {
	host, _ := os.Hostname()
	writeJSON(w, Info{Version: Version, OS: runtime.GOOS, Arch: runtime.GOARCH, Hostname: host, NumCPU: runtime.NumCPU()})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// requestError is an error the client caused; it maps to 400.
type requestError struct{ msg string }

func (e *requestError) Error() string { return e.msg }

// writeError sends err as the JSON error body with a status derived from it.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var re *requestError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		status = http.StatusNotFound
	case errors.As(err, &re):
		status = http.StatusBadRequest
	}
	if status == http.StatusInternalServerError {
		s.logf("%s %s: %v", r.Method, r.URL, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(errorBody{Error: err.Error()})
}
