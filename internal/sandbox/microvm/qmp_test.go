package microvm

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeQMP serves QEMU's machine protocol on a unix socket: greeting,
// capability negotiation, and answers from replies keyed by command; it
// sends an event before every answer, as QEMU may.
func fakeQMP(t *testing.T, replies map[string][]string) string {
	t.Helper()
	sock := filepath.Join(shortTempDir(t), "qmp.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprintln(c, `{"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": []}}`)
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			var req struct {
				Execute string `json:"execute"`
			}
			json.Unmarshal(sc.Bytes(), &req)
			fmt.Fprintln(c, `{"event": "RESUME", "timestamp": {"seconds": 1, "microseconds": 2}}`)
			if req.Execute == "qmp_capabilities" {
				fmt.Fprintln(c, `{"return": {}}`)
				continue
			}
			r := replies[req.Execute]
			if len(r) == 0 {
				fmt.Fprintf(c, `{"error": {"class": "CommandNotFound", "desc": "The command %s has not been found"}}`+"\n", req.Execute)
				continue
			}
			fmt.Fprintln(c, r[0])
			if len(r) > 1 {
				replies[req.Execute] = r[1:]
			}
		}
	}()
	return sock
}

func TestQMPMigration(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replies []string
		wantErr string
	}{
		{"completes", []string{`{"return": {"status": "setup"}}`, `{"return": {"status": "active"}}`, `{"return": {"status": "completed"}}`}, ""},
		{"fails", []string{`{"return": {"status": "active"}}`, `{"return": {"status": "failed", "error-desc": "cat: write error"}}`}, "migration failed: cat: write error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := fakeQMP(t, map[string][]string{
				"migrate-set-capabilities": {`{"return": {}}`},
				"query-migrate":            tc.replies,
			})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			q, err := dialQMP(ctx, sock, func() error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			if err := q.setIgnoreShared(ctx); err != nil {
				t.Fatalf("setIgnoreShared: %v", err)
			}
			err = q.waitMigration(ctx)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("waitMigration: got %v, want error %q", err, tc.wantErr)
			}
			if _, err := q.execute(ctx, "no-such-command", nil); err == nil || !strings.Contains(err.Error(), "CommandNotFound") {
				t.Errorf("unknown command: got %v, want a CommandNotFound error", err)
			}
		})
	}
}

func TestQMPGivesUpWhenQEMUExits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := dialQMP(ctx, filepath.Join(t.TempDir(), "never.sock"), func() error { return fmt.Errorf("qemu exited: exit status 1") })
	if err == nil || !strings.Contains(err.Error(), "qemu exited") {
		t.Errorf("got %v, want the exit reported", err)
	}
}
