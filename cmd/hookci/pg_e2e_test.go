package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/store/pgtest"
	"github.com/hookci/hookci/internal/webhook"
)

// TestMain gives the package's tests a throwaway PostgreSQL cluster
// (started only by a test that asks for a database).
func TestMain(m *testing.M) { pgtest.Main(m) }

// TestEndToEndPostgres is TestEndToEnd with the store and the queue on
// PostgreSQL: webhook → plan → run → status, comment and metrics through
// the fake GitHub, duplicates and bad input refused.
func TestEndToEndPostgres(t *testing.T) {
	url := pgtest.URL(t)
	testEndToEnd(t, "host", func(c *config.Config) { c.DatabaseURL = url })
}

// TestAcceptedByDeadHostPlannedByAnother: a delivery acknowledged (202) by
// a host that died before planning it is planned and run by another host
// sharing the database.
func TestAcceptedByDeadHostPlannedByAnother(t *testing.T) {
	url := pgtest.URL(t)
	h := newHarness(t, "host", func(c *config.Config) { c.DatabaseURL = url })
	c1 := h.repo.Commit("first", map[string]string{".github/workflows/ci.yml": twoJobWorkflow, "src/main.sh": "#!/bin/sh\necho ok\n"})
	h.repo.Push("main")
	h.stop()
	// Host "dead" accepts with no queue worker, then is gone for good.
	dead := h.cfg
	dead.DataDir = t.TempDir()
	acceptOnly(t, dead, "delivery-orphan", pushPayload(t, strings.Repeat("0", 40), c1))
	h.start() // the other host
	if sts := h.waitStatus(c1); sts[len(sts)-1].State != "success" {
		t.Fatalf("delivery accepted by a dead host: statuses %+v, want … success", sts)
	}
}

// TestStoreCopyGrowingUp: an installation on SQLite runs a workflow, stops,
// copies its store to PostgreSQL with `hookci store copy`, and a server on
// PostgreSQL shows the same run with its log, and numbers the next run on.
// Bad arguments are refused naming what is wrong.
func TestStoreCopyGrowingUp(t *testing.T) {
	url := pgtest.URL(t)
	h := newHarness(t, "host")
	c1 := h.repo.Commit("first", map[string]string{".github/workflows/ci.yml": twoJobWorkflow, "src/main.sh": "#!/bin/sh\necho copied run\n"})
	h.repo.Push("main")
	h.sendSigned("push", "before-copy", pushPayload(t, strings.Repeat("0", 40), c1))
	if sts := h.waitStatus(c1); sts[len(sts)-1].State != "success" {
		t.Fatalf("statuses %+v, want success", sts)
	}
	before := h.get("/api/runs")
	h.stop()

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"copy", "--from", h.cfg.DataDir, "--to", url}, 2, "--from must be sqlite:PATH"},
		{[]string{"copy", "--from", "sqlite:" + h.cfg.DataDir, "--to", "mysql://db/x"}, 2, `scheme "mysql" is not supported`},
		{[]string{"copy", "--from", "sqlite:" + t.TempDir(), "--to", url}, 1, "no hookci.db"},
	} {
		var out, errOut bytes.Buffer
		if code := runCommand(context.Background(), append([]string{"store"}, tc.args...), &out, &errOut); code != tc.code ||
			!strings.Contains(errOut.String(), tc.want) {
			t.Errorf("store %v: exit %d, %q; want %d and %q", tc.args, code, errOut.String(), tc.code, tc.want)
		}
	}
	var out, errOut bytes.Buffer
	if code := runCommand(context.Background(), []string{"store", "copy", "--from", "sqlite:" + h.cfg.DataDir, "--to", url}, &out, &errOut); code != 0 {
		t.Fatalf("store copy: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "runs         1") || !strings.Contains(out.String(), "jobs         2") {
		t.Errorf("store copy printed %q, want 1 run and 2 jobs", out.String())
	}

	h.cfg.DatabaseURL = url
	h.cfg.DataDir = t.TempDir()
	h.start()
	if got := h.get("/api/runs"); got != before {
		t.Errorf("runs on PostgreSQL after the copy:\n%s\nwant as on SQLite:\n%s", got, before)
	}
	var runs []map[string]any
	json.Unmarshal([]byte(before), &runs)
	if len(runs) == 1 {
		if page := h.get(fmt.Sprintf("/runs/%v", runs[0]["ID"])); !strings.Contains(page, "copied run") {
			t.Error("the copied run's page lacks its log")
		}
	}
	c2 := h.repo.Commit("second", map[string]string{"n": "2"})
	h.repo.Push("main")
	h.sendSigned("push", "after-copy", pushPayload(t, c1, c2))
	if sts := h.waitStatus(c2); sts[len(sts)-1].State != "success" {
		t.Fatalf("after the copy: statuses %+v, want success", sts)
	}
	json.Unmarshal([]byte(h.get("/api/runs")), &runs)
	if len(runs) != 2 || fmt.Sprint(runs[0]["RunNumber"]) != "2" {
		t.Errorf("runs after the copy %v, want two, the new one number 2", runs)
	}
}

// TestServeBadDatabase: `hookci serve` with a database it cannot use stops
// at start with an error saying why, never printing the password.
func TestServeBadDatabase(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"mysql://hookci:hunter2@db/hookci", `HOOKCI_DATABASE_URL (database_url): scheme "mysql" is not supported`},
		{"postgres://hookci:hunter2@/hookci?host=" + t.TempDir() + "&connect_timeout=2", "cannot reach PostgreSQL"},
	} {
		cfg := baseConfig(t, t.TempDir(), "http://127.0.0.1:1")
		cfg.DatabaseURL = tc.url
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		err = serveOn(context.Background(), cfg, slog.New(slog.DiscardHandler), l)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve with %s: got %v, want an error saying %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("serve with %s: error %q prints the password", tc.url, err)
		}
	}
}

// TestDatabaseLostWhileRunning: the PostgreSQL server goes away under a
// running hookci: webhooks are answered 503 (nothing is acknowledged that
// was not stored); once it is back, the redelivered webhook runs to success.
func TestDatabaseLostWhileRunning(t *testing.T) {
	cluster := pgtest.Own(t)
	url, err := cluster.NewDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, "host", func(c *config.Config) { c.DatabaseURL = url })
	c1 := h.repo.Commit("first", map[string]string{".github/workflows/ci.yml": twoJobWorkflow, "src/main.sh": "#!/bin/sh\necho ok\n"})
	h.repo.Push("main")
	h.sendSigned("push", "before-loss", pushPayload(t, strings.Repeat("0", 40), c1))
	if sts := h.waitStatus(c1); sts[len(sts)-1].State != "success" {
		t.Fatalf("before the loss: statuses %+v, want success", sts)
	}
	c2 := h.repo.Commit("second", map[string]string{"n": "2"})
	h.repo.Push("main")
	body := pushPayload(t, c1, c2)
	cluster.Pause()
	code, msg := h.send("push", "during-loss", body, webhook.SignatureHeader([]byte(e2eSecret), body))
	if code != http.StatusServiceUnavailable {
		t.Errorf("webhook with the database down: %d %s, want 503", code, msg)
	}
	if err := cluster.Resume(); err != nil {
		t.Fatal(err)
	}
	// The operator redelivers it (GitHub does not retry by itself).
	waitFor(t, "the redelivery to be accepted", func() bool {
		code, _ := h.send("push", "during-loss", body, webhook.SignatureHeader([]byte(e2eSecret), body))
		return code == http.StatusAccepted
	})
	if sts := h.waitStatus(c2); sts[len(sts)-1].State != "success" {
		t.Fatalf("after the database came back: statuses %+v, want success", sts)
	}
}
