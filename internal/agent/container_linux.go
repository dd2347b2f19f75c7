package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Guest containers (microVM backend). The agent, root in the guest, starts
// `hookci-agent container-init` (ContainerInit) in new mount, pid, uts and
// ipc namespaces and the job's cgroup, handing it a listening unix socket
// (fd 3) and a status pipe (fd 4). The host reaches that agent through
// POST /containers/conn, a byte stream this agent splices to the socket.

// ContainerInitArg is the first argument that makes hookci-agent run
// ContainerInit instead of serving.
const ContainerInitArg = "container-init"

// containerEnv carries the ContainerStart (JSON) to container-init.
const containerEnv = "HOOKCI_CONTAINER"

// guestCtrDir holds the containers' sockets and logs in the guest.
const guestCtrDir = "/run/hookci/ctr"

type guestContainer struct {
	cmd    *exec.Cmd
	sock   string
	exited chan struct{}
}

func (s *Server) containerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /containers", s.handleContainerStart)
	mux.HandleFunc("DELETE /containers", s.handleContainerStop)
	mux.HandleFunc("POST /containers/conn", s.handleContainerConn)
}

func (s *Server) handleContainerStart(w http.ResponseWriter, r *http.Request) {
	var cs ContainerStart
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&cs); err != nil {
		s.writeError(w, r, &requestError{"container start: " + err.Error()})
		return
	}
	if err := cs.validate(); err != nil {
		s.writeError(w, r, &requestError{err.Error()})
		return
	}
	if err := s.startGuestContainer(cs); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) startGuestContainer(cs ContainerStart) error {
	s.mu.Lock()
	if s.ctrs == nil {
		s.ctrs = map[string]*guestContainer{}
	}
	if s.ctrs[cs.Name] != nil {
		s.mu.Unlock()
		return &requestError{fmt.Sprintf("container %s exists", cs.Name)}
	}
	s.ctrs[cs.Name] = &guestContainer{} // reserved
	s.mu.Unlock()
	c, err := s.spawnContainer(cs)
	s.mu.Lock()
	if err != nil {
		delete(s.ctrs, cs.Name)
	} else {
		s.ctrs[cs.Name] = c
	}
	s.mu.Unlock()
	return err
}

func (s *Server) spawnContainer(cs ContainerStart) (*guestContainer, error) {
	if err := os.MkdirAll(guestCtrDir, 0o700); err != nil {
		return nil, err
	}
	sock := filepath.Join(guestCtrDir, cs.Name+".sock")
	os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", cs.Name, err)
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	lf, err := ul.File()
	l.Close() // the child serves the socket (lf)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	spec, _ := json.Marshal(cs)
	logf, err := os.Create(filepath.Join(guestCtrDir, cs.Name+".log"))
	if err != nil {
		pw.Close()
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command("/proc/self/exe", ContainerInitArg)
	cmd.Env = []string{containerEnv + "=" + string(spec), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Dir = "/"
	cmd.ExtraFiles = []*os.File{lf, pw}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setsid:     true,
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
	}
	setCgroup(cmd.SysProcAttr, s.jobCgroup())
	if err := cmd.Start(); err != nil {
		pw.Close()
		return nil, fmt.Errorf("container %s: start: %w", cs.Name, err)
	}
	pw.Close()
	c := &guestContainer{cmd: cmd, sock: sock, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(c.exited)
	}()
	pr.SetReadDeadline(time.Now().Add(2 * time.Minute)) // a hung mount must not hang the request
	status, _ := io.ReadAll(io.LimitReader(pr, 64<<10))
	if string(status) != "ok" {
		cmd.Process.Kill()
		<-c.exited
		os.Remove(sock)
		msg := strings.TrimSpace(string(status))
		if msg == "" {
			b, _ := os.ReadFile(logf.Name())
			msg = "container init exited: " + strings.TrimSpace(string(bytes.TrimSpace(b)))
		}
		return nil, &requestError{fmt.Sprintf("container %s: %s", cs.Name, msg)}
	}
	return c, nil
}

func (s *Server) handleContainerStop(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	s.mu.Lock()
	c := s.ctrs[name]
	if c != nil && c.cmd != nil {
		delete(s.ctrs, name)
	}
	s.mu.Unlock()
	if c != nil && c.cmd != nil {
		// SIGKILL to the pid namespace's init kills every process in it.
		c.cmd.Process.Kill()
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
		}
		os.Remove(c.sock)
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleContainerConn splices the request and response bodies to a new
// connection to the container's agent socket.
func (s *Server) handleContainerConn(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	s.mu.Lock()
	c := s.ctrs[name]
	s.mu.Unlock()
	if c == nil || c.cmd == nil {
		s.writeError(w, r, fmt.Errorf("container %q: %w", name, os.ErrNotExist))
		return
	}
	conn, err := net.Dial("unix", c.sock)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("container %s: %w", name, err))
		return
	}
	defer conn.Close()
	rc := http.NewResponseController(w)
	rc.EnableFullDuplex()
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	go func() {
		<-r.Context().Done()
		conn.Close()
	}()
	go func() {
		io.Copy(conn, r.Body)
		conn.(*net.UnixConn).CloseWrite()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
