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
	"net/url"
	"regexp"
	"time"
)

// ContainerStart asks an agent that runs as root in a microVM guest to start
// a container: a second agent whose root is an overlay (tmpfs upper layer)
// on an image's read-only ext4 disk, in its own mount, pid, uts and ipc
// namespaces, sharing the guest's network. See container_linux.go.
type ContainerStart struct {
	// Name is unique within the guest: 1-30 of [a-z0-9-].
	Name string `json:"name"`
	// DiskSerial is the virtio serial of the image's block device.
	DiskSerial string `json:"disk_serial"`
	// UID and GID are the container's user: its agent and every process it
	// starts run as them.
	UID int `json:"uid"`
	GID int `json:"gid"`
	// Binds are guest directories bound into the container.
	Binds []ContainerBind `json:"binds,omitempty"`
	// Tmpfs are the container's volumes: a fresh tmpfs each, holding the
	// copy-up of the image's directory (container-init).
	Tmpfs []string `json:"tmpfs,omitempty"`
	// Hosts is the content of the container's /etc/hosts.
	Hosts string `json:"hosts"`
	// Hostname is the container's host name.
	Hostname string `json:"hostname"`
}

// ContainerBind binds a guest directory at Target in a container.
type ContainerBind struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

var containerNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,29}$`)

// StartContainer starts a container in the guest (see ContainerStart) and
// returns once its agent listens; DialContainer connects to it.
func (c *Client) StartContainer(ctx context.Context, cs ContainerStart) error {
	body, err := json.Marshal(cs)
	if err != nil {
		return fmt.Errorf("agent container: %w", err)
	}
	resp, err := c.do(ctx, "container start", http.MethodPost, "/containers", nil, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// StopContainer kills a container's processes (its pid namespace) and
// forgets it. Stopping an unknown container is not an error.
func (c *Client) StopContainer(ctx context.Context, name string) error {
	resp, err := c.do(ctx, "container stop", http.MethodDelete, "/containers", url.Values{"name": {name}}, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// DialContainer opens a connection to a started container's agent, carried
// by one HTTP/2 stream of this client's connection; pass it to NewClient.
func (c *Client) DialContainer(ctx context.Context, name string) (net.Conn, error) {
	pr, pw := io.Pipe()
	// The stream lives as long as the connection, not as long as ctx.
	resp, err := c.do(context.WithoutCancel(ctx), "container dial", http.MethodPost, "/containers/conn", url.Values{"name": {name}}, pr)
	if err != nil {
		pw.Close()
		return nil, err
	}
	return &streamConn{r: resp.Body, w: pw}, nil
}

// streamConn is a net.Conn over one HTTP/2 stream: writes go to the request
// body, reads come from the response body. Deadlines are not supported
// (HTTP/2 keeps its own pings on the outer connection).
type streamConn struct {
	r io.ReadCloser
	w *io.PipeWriter
}

func (s *streamConn) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s *streamConn) Write(p []byte) (int, error) { return s.w.Write(p) }
func (s *streamConn) Close() error {
	s.w.Close()
	return s.r.Close()
}
func (s *streamConn) LocalAddr() net.Addr              { return streamAddr{} }
func (s *streamConn) RemoteAddr() net.Addr             { return streamAddr{} }
func (s *streamConn) SetDeadline(time.Time) error      { return nil }
func (s *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (s *streamConn) SetWriteDeadline(time.Time) error { return nil }

type streamAddr struct{}

func (streamAddr) Network() string { return "agent-stream" }
func (streamAddr) String() string  { return "container" }

// validate reports whether the request can be used.
func (cs ContainerStart) validate() error {
	if !containerNameRE.MatchString(cs.Name) {
		return fmt.Errorf("bad container name %q", cs.Name)
	}
	if cs.DiskSerial == "" || len(cs.DiskSerial) > 20 {
		return errors.New("container: bad disk serial")
	}
	if cs.UID < 0 || cs.GID < 0 {
		return errors.New("container: negative uid or gid")
	}
	return nil
}
