package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// ForwardRequest asks the agent to accept TCP connections on Port (every
// address of the sandbox's network) and relay each to TargetPort on the
// loopback address: a service's `ports: ["8080:80"]`, where the job reaches
// localhost:8080 and the service listens on 80 (on GitHub, Docker publishes
// the container's port 80 as the host's 8080).
type ForwardRequest struct {
	Port       int `json:"port"`
	TargetPort int `json:"target_port"`
}

// Forward starts the relay; it lasts as long as the agent (a container's
// agent: the container). A port already taken is an error naming it.
func (c *Client) Forward(ctx context.Context, req ForwardRequest) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("agent forward: %w", err)
	}
	resp, err := c.do(ctx, "forward", http.MethodPost, "/forward", nil, bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return c.transportErr(ctx, "forward", err)
	}
	return nil
}

func (s *Server) handleForward(w http.ResponseWriter, r *http.Request) {
	var req ForwardRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
		s.writeError(w, r, &requestError{"forward: bad request: " + err.Error()})
		return
	}
	for _, p := range []int{req.Port, req.TargetPort} {
		if p < 1 || p > 65535 {
			s.writeError(w, r, &requestError{fmt.Sprintf("forward: port %d is not between 1 and 65535", p)})
			return
		}
	}
	if req.Port == req.TargetPort {
		s.writeError(w, r, &requestError{fmt.Sprintf("forward: port %d to itself", req.Port)})
		return
	}
	l, err := net.Listen("tcp", ":"+strconv.Itoa(req.Port))
	if err != nil {
		s.writeError(w, r, &requestError{fmt.Sprintf("forward: port %d: %v", req.Port, err)})
		return
	}
	s.mu.Lock()
	s.forwards = append(s.forwards, l)
	s.mu.Unlock()
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(req.TargetPort))
	go s.relay(l, target)
	w.WriteHeader(http.StatusNoContent)
}

// relay accepts on l until it is closed, copying each connection to and
// from target both ways (half-closes passed on).
func (s *Server) relay(l net.Listener, target string) {
	for {
		in, err := l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.logf("forward %s: %v", l.Addr(), err)
			}
			return
		}
		go func() {
			defer in.Close()
			out, err := net.DialTimeout("tcp", target, 10*time.Second)
			if err != nil {
				return // the client sees its connection closed, as with nothing listening
			}
			defer out.Close()
			var wg sync.WaitGroup
			wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer wg.Done()
				io.Copy(dst, src)
				if c, ok := dst.(*net.TCPConn); ok {
					c.CloseWrite()
				}
			}
			go pipe(out, in)
			go pipe(in, out)
			wg.Wait()
		}()
	}
}

// closeForwards stops every relay's listener (connections in flight end
// with their peers).
func (s *Server) closeForwards() {
	s.mu.Lock()
	ls := s.forwards
	s.forwards = nil
	s.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
}
