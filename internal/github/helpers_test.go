package github_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/github"
	"github.com/hookci/hookci/internal/github/githubtest"
)

const (
	testToken = "ghp_testTOKENsecret1234567890abcdefghij"
	owner     = "octo"
	name      = "hello"
	full      = owner + "/" + name
	instID    = 77
	appID     = 4242
	sha1      = "0123456789abcdef0123456789abcdef01234567"
)

var repo = github.Repo{Owner: owner, Name: name, InstallationID: instID}

// fakeClock is a settable clock whose Sleep advances time and records every wait.
type fakeClock struct {
	mu     sync.Mutex // guards the fields below
	t      time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// syncBuffer collects log output from concurrent writers.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type env struct {
	srv   *githubtest.Server
	clock *fakeClock
	logs  *syncBuffer
	c     *github.Client
}

// tokenEnv returns a fake with one repository and a token-mode client on a fake clock.
func tokenEnv(t *testing.T, mutate ...func(*github.Config)) *env {
	t.Helper()
	e := &env{srv: githubtest.NewServer(t), clock: newFakeClock(), logs: &syncBuffer{}}
	e.srv.AddRepo(owner, name, instID)
	e.srv.SetToken(testToken)
	e.srv.SetNow(e.clock.Now)
	e.c = e.newClient(t, github.Config{Token: testToken}, mutate...)
	return e
}

// appEnv returns a fake with one repository and an App-mode client on a fake clock.
func appEnv(t *testing.T, mutate ...func(*github.Config)) *env {
	t.Helper()
	e := &env{srv: githubtest.NewServer(t), clock: newFakeClock(), logs: &syncBuffer{}}
	e.srv.AddRepo(owner, name, instID)
	e.srv.SetNow(e.clock.Now)
	key := e.srv.EnableApp(appID)
	e.c = e.newClient(t, github.Config{AppID: appID, AppKeyPEM: key}, mutate...)
	return e
}

func (e *env) newClient(t *testing.T, cfg github.Config, mutate ...func(*github.Config)) *github.Client {
	t.Helper()
	cfg.APIURL = e.srv.URL()
	cfg.Now = e.clock.Now
	cfg.Sleep = e.clock.Sleep
	cfg.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := github.New(cfg)
	if err != nil {
		t.Fatalf("github.New: %v", err)
	}
	return c
}
