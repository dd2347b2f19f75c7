package agent

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Client talks to one agent over one connection. It is safe for concurrent
// use; concurrent calls run as separate HTTP/2 streams.
type Client struct {
	conn net.Conn
	cc   *http.ClientConn
}

// NewClient speaks HTTP/2 cleartext over conn, which must carry HTTP/2 from
// its next byte (a unix socket or vsock connection; see NewSerialClient for a
// serial port). The Client owns conn and closes it in Close.
func NewClient(conn net.Conn) (*Client, error) {
	var once sync.Once
	t := &http.Transport{
		Protocols:          new(http.Protocols),
		DisableCompression: true,
		// The connection exists already: the one dial hands it over.
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			var c net.Conn
			once.Do(func() { c = conn })
			if c == nil {
				return nil, errors.New("agent connection already in use")
			}
			return c, nil
		},
		HTTP2: &http.HTTP2Config{
			// Detect a dead peer on an otherwise idle connection.
			SendPingTimeout: 30 * time.Second,
			PingTimeout:     15 * time.Second,
		},
	}
	t.Protocols.SetUnencryptedHTTP2(true)
	cc, err := t.NewClientConn(context.Background(), "http", "agent:80")
	if err != nil {
		conn.Close()
		return nil, &InfraError{Op: "connect", Err: err}
	}
	return &Client{conn: conn, cc: cc}, nil
}

// Dial connects to an agent listening on network/addr (e.g. "unix",
// "/path/agent.sock") and returns a Client for it.
func Dial(ctx context.Context, network, addr string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, &InfraError{Op: "dial", Err: err}
	}
	return NewClient(conn)
}

// Close closes the connection; in-flight calls fail and the agent kills the
// process groups of in-flight Execs.
func (c *Client) Close() error {
	err := c.cc.Close()
	c.conn.Close()
	return err
}

// Info returns what the agent reports about itself and its machine.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var info Info
	resp, err := c.do(ctx, "info", http.MethodGet, "/info", nil, nil)
	if err != nil {
		return info, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return info, c.transportErr(ctx, "info", err)
	}
	return info, nil
}

// Exec runs req in its own process group in the sandbox and streams its
// stdout and stderr, interleaved in write order, to output as they are
// written. A non-zero exit is not an error. Cancelling ctx kills the process
// group in the sandbox and returns an error wrapping ctx.Err(). Failures of
// the transport or the agent are *InfraError; an error from output is
// returned as is (and kills the process group).
func (c *Client) Exec(ctx context.Context, req ExecRequest, output io.Writer) (ExecResult, error) {
	if len(req.Argv) == 0 {
		return ExecResult{}, errors.New("agent exec: empty argv")
	}
	body, err := json.Marshal(req)
	if err != nil {
		return ExecResult{}, fmt.Errorf("agent exec: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := c.do(ctx, "exec", http.MethodPost, "/exec", nil, bytes.NewReader(body))
	if err != nil {
		return ExecResult{}, err
	}
	defer resp.Body.Close()
	ow := &outputWriter{w: output}
	if _, err := io.Copy(ow, resp.Body); err != nil {
		if ow.err != nil {
			cancel() // resets the stream: the agent kills the process group
			return ExecResult{}, fmt.Errorf("agent exec: writing output: %w", ow.err)
		}
		return ExecResult{}, c.transportErr(ctx, "exec", err)
	}
	return parseExitTrailer(resp.Trailer)
}

// outputWriter remembers the error of the caller's writer so that Exec can
// tell it apart from a failing transport.
type outputWriter struct {
	w   io.Writer
	err error
}

func (o *outputWriter) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err != nil {
		o.err = err
	}
	return n, err
}

func parseExitTrailer(tr http.Header) (ExecResult, error) {
	code := tr.Get(trailerExit)
	if code == "" {
		return ExecResult{}, &InfraError{Op: "exec", Err: errors.New("response ended without exit status")}
	}
	n, err := strconv.Atoi(code)
	if err != nil {
		return ExecResult{}, &InfraError{Op: "exec", Err: fmt.Errorf("bad exit status %q", code)}
	}
	res := ExecResult{ExitCode: n, Signal: tr.Get(trailerSignal)}
	if v := tr.Get(trailerFiles); v != "" && v != "overflow" {
		js, err := base64.StdEncoding.DecodeString(v)
		if err == nil && json.Unmarshal(js, &res.Files) == nil {
			res.CollectComplete = true
		}
	}
	return res, nil
}

// do sends one request and returns the response if its status is 2xx;
// otherwise it returns the classified error.
func (c *Client) do(ctx context.Context, op, method, path string, query url.Values, body io.Reader) (*http.Response, error) {
	u := agentURLPrefix + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", op, err)
	}
	resp, err := c.cc.RoundTrip(req)
	if err != nil {
		return nil, c.transportErr(ctx, op, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, statusError(op, resp)
}

// transportErr classifies an error of the HTTP/2 exchange: the caller's
// cancellation or deadline, or else an infrastructure failure.
func (c *Client) transportErr(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("agent %s: %w", op, ctxErr)
	}
	return &InfraError{Op: op, Err: err}
}

// statusError turns a non-2xx response into an error.
func statusError(op string, resp *http.Response) error {
	var eb errorBody
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
		eb.Error = string(bytes.TrimSpace(data))
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("agent %s: %s: %w", op, eb.Error, fs.ErrNotExist)
	case resp.StatusCode >= 500:
		return &InfraError{Op: op, Err: fmt.Errorf("%s: %s", resp.Status, eb.Error)}
	default:
		return fmt.Errorf("agent %s: %s: %s", op, resp.Status, eb.Error)
	}
}
