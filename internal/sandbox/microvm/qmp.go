package microvm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// qmp is a minimal client of QEMU's machine protocol: one command at a time,
// events skipped.
type qmp struct {
	conn net.Conn
	r    *bufio.Reader
}

// dialQMP connects to a QMP socket (retrying until QEMU has created it or
// ctx ends, or alive reports QEMU gone) and negotiates capabilities.
func dialQMP(ctx context.Context, path string, alive func() error) (*qmp, error) {
	conn, err := dialUnixRetry(ctx, path, alive)
	if err != nil {
		return nil, fmt.Errorf("qmp: %w", err)
	}
	q := &qmp{conn: conn, r: bufio.NewReader(conn)}
	if err := q.readGreeting(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := q.execute(ctx, "qmp_capabilities", nil); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

// dialUnixRetry dials a unix socket that may not exist yet.
func dialUnixRetry(ctx context.Context, path string, alive func() error) (net.Conn, error) {
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "unix", path)
		if err == nil {
			return conn, nil
		}
		if err := alive(); err != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("dial %s: %w (%v)", path, ctx.Err(), err)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func (q *qmp) Close() error { return q.conn.Close() }

func (q *qmp) readGreeting(ctx context.Context) error {
	q.deadline(ctx)
	var g struct {
		QMP json.RawMessage `json:"QMP"`
	}
	line, err := q.r.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("qmp greeting: %w", err)
	}
	if err := json.Unmarshal(line, &g); err != nil || g.QMP == nil {
		return fmt.Errorf("qmp greeting: unexpected %q", line)
	}
	return nil
}

func (q *qmp) deadline(ctx context.Context) {
	d, ok := ctx.Deadline()
	if !ok {
		d = time.Now().Add(time.Minute)
	}
	q.conn.SetDeadline(d)
}

// execute runs one command and returns its "return" value.
func (q *qmp) execute(ctx context.Context, cmd string, args any) (json.RawMessage, error) {
	return q.executeFD(ctx, cmd, args, nil)
}

// sendFD hands QEMU a descriptor of f under name (QMP getfd, the descriptor
// passed with SCM_RIGHTS), for URIs such as "fd:name". QEMU keeps its own
// copy; f stays the caller's.
func (q *qmp) sendFD(ctx context.Context, name string, f *os.File) error {
	_, err := q.executeFD(ctx, "getfd", map[string]any{"fdname": name}, f)
	return err
}

// executeFD is execute with f's descriptor attached to the request.
func (q *qmp) executeFD(ctx context.Context, cmd string, args any, f *os.File) (json.RawMessage, error) {
	q.deadline(ctx)
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if f == nil {
		_, err = q.conn.Write(append(b, '\n'))
	} else if uc, ok := q.conn.(*net.UnixConn); !ok {
		err = errors.New("passing a descriptor needs a unix socket")
	} else {
		_, _, err = uc.WriteMsgUnix(append(b, '\n'), syscall.UnixRights(int(f.Fd())), nil)
	}
	if err != nil {
		return nil, fmt.Errorf("qmp %s: %w", cmd, err)
	}
	for {
		line, err := q.r.ReadBytes('\n')
		if err != nil {
			return nil, fmt.Errorf("qmp %s: %w", cmd, err)
		}
		var resp struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
			Event string `json:"event"`
		}
		if err := json.Unmarshal(line, &resp); err != nil {
			return nil, fmt.Errorf("qmp %s: bad reply %q: %w", cmd, line, err)
		}
		switch {
		case resp.Event != "":
			continue
		case resp.Error != nil:
			return nil, fmt.Errorf("qmp %s: %s: %s", cmd, resp.Error.Class, resp.Error.Desc)
		default:
			return resp.Return, nil
		}
	}
}

// migrationStatus returns query-migrate's status ("" before any migration).
func (q *qmp) migrationStatus(ctx context.Context) (string, string, error) {
	raw, err := q.execute(ctx, "query-migrate", nil)
	if err != nil {
		return "", "", err
	}
	var st struct {
		Status    string `json:"status"`
		ErrorDesc string `json:"error-desc"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return "", "", fmt.Errorf("qmp query-migrate: %w", err)
	}
	return st.Status, st.ErrorDesc, nil
}

// waitMigration polls until the migration completed, failed or ctx ended.
func (q *qmp) waitMigration(ctx context.Context) error {
	for {
		st, desc, err := q.migrationStatus(ctx)
		if err != nil {
			return err
		}
		switch st {
		case "completed":
			return nil
		case "failed", "cancelled":
			return fmt.Errorf("migration %s: %s", st, desc)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("migration (status %q): %w", st, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// setIgnoreShared turns on x-ignore-shared: RAM in shared memory backends is
// not written to (or expected in) the migration stream.
func (q *qmp) setIgnoreShared(ctx context.Context) error {
	_, err := q.execute(ctx, "migrate-set-capabilities", map[string]any{
		"capabilities": []map[string]any{{"capability": "x-ignore-shared", "state": true}},
	})
	return err
}
