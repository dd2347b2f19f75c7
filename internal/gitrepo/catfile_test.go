package gitrepo

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBatchReadsMatchGit checks the reads made through the long-lived
// cat-file --batch against the same reads from a git process per call, on
// a real repository: files, a subdirectory's listing, a missing file, a
// missing directory, a commit the mirror does not hold, and a commit
// fetched after the batch reader started (it must be seen).
func TestBatchReadsMatchGit(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	src := filepath.Join(root, "src")
	run := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(Env(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	run(src, "init", "-q", "-b", "main")
	write(".github/workflows/a.yml", "on: push\n")
	write(".github/workflows/b yml.yml", "on: pull_request\n")
	write(".github/workflows/sub/c.yml", "x\n")
	write("README.md", "hello\n")
	run(src, "add", "-A")
	run(src, "commit", "-q", "-m", "one")
	first := run(src, "rev-parse", "HEAD")

	c := New(filepath.Join(root, "mirrors"), "file://"+root, nil)
	defer c.Close()
	c.SetCloneURL("o/r", "file://"+src)
	m, err := c.Fetch(ctx, "o/r", first)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.ListFiles(ctx, first, ".github/workflows")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".github/workflows/a.yml", ".github/workflows/b yml.yml", ".github/workflows/sub"}
	if !slices.Equal(got, want) {
		t.Errorf("ListFiles: got %q, want %q", got, want)
	}
	if got, err := m.ListFiles(ctx, first, "nope"); err != nil || got != nil {
		t.Errorf("ListFiles of a missing dir: got %q, %v, want none, nil", got, err)
	}
	if _, err := m.ListFiles(ctx, strings.Repeat("1", 40), ".github"); err == nil {
		t.Errorf("ListFiles of an unknown commit: got nil error, want one")
	}
	for _, tc := range []struct {
		path, want string
		missing    bool
	}{
		{"README.md", "hello\n", false},
		{".github/workflows/b yml.yml", "on: pull_request\n", false},
		{"missing.txt", "", true},
		{".github/workflows", "", true}, // a tree, not a file
	} {
		b, err := m.ReadFile(ctx, first, tc.path)
		if tc.missing {
			if !errors.Is(err, os.ErrNotExist) {
				t.Errorf("ReadFile(%q): got %v, want os.ErrNotExist", tc.path, err)
			}
			continue
		}
		if err != nil || string(b) != tc.want {
			t.Errorf("ReadFile(%q): got %q, %v, want %q", tc.path, b, err, tc.want)
		}
	}

	// A commit fetched after the batch reader started is found by it.
	write("README.md", "two\n")
	run(src, "commit", "-q", "-am", "two")
	second := run(src, "rev-parse", "HEAD")
	if m.has(ctx, second) {
		t.Fatalf("has(%s) before the fetch: got true, want false", second)
	}
	if _, err := c.Fetch(ctx, "o/r", second); err != nil {
		t.Fatal(err)
	}
	if b, err := m.ReadFile(ctx, second, "README.md"); err != nil || string(b) != "two\n" {
		t.Errorf("ReadFile after fetch: got %q, %v, want %q", b, err, "two\n")
	}
	files, err := m.CommitFiles(ctx, second)
	if err != nil || !slices.Equal(files, []string{"README.md"}) {
		t.Errorf("CommitFiles: got %q, %v, want [README.md]", files, err)
	}

	// A cancelled caller gets an error, and the next read starts afresh.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.ReadFile(cctx, first, "README.md"); err == nil {
		t.Errorf("ReadFile with a cancelled context: got nil error, want one")
	}
	if b, err := m.ReadFile(ctx, first, "README.md"); err != nil || string(b) != "hello\n" {
		t.Errorf("ReadFile after a cancelled read: got %q, %v, want %q", b, err, "hello\n")
	}
}

// TestOlderGitWithoutBatchCommand: on a git without `cat-file
// --batch-command` (before 2.36; Ubuntu 22.04 has 2.34) — played here by a
// wrapper that answers it as such a git does, usage and status 129 — reads
// go through --batch and fetches still work (the in-process fetch cannot
// check objects, so git fetch does them).
func TestOlderGitWithoutBatchCommand(t *testing.T) {
	real, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not installed")
	}
	bin := t.TempDir()
	wrapper := "#!/bin/sh\nfor a in \"$@\"; do\n  if [ \"$a\" = --batch-command ]; then\n    echo \"error: unknown option \\`batch-command'\" >&2\n    exit 129\n  fi\ndone\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "git"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	ctx, spans := tracedCtx()
	server := t.TempDir()
	src := historyWithDeltas(t, server, "octo/old")
	cache := New(t.TempDir(), "file://"+server, nil)
	defer cache.Close()
	m, err := cache.Fetch(ctx, "octo/old", src.Head())
	if err != nil {
		t.Fatal(err)
	}
	if b, err := m.ReadFile(ctx, src.Head(), "README.md"); err != nil || string(b) != "readme\n" {
		t.Fatalf("ReadFile: %q, %v", b, err)
	}
	next := src.Commit("next", map[string]string{"README.md": "next\n"})
	src.Push("main")
	spanNames(t, spans)
	if _, err := cache.Fetch(ctx, "octo/old", next); err != nil {
		t.Fatal(err)
	}
	if names := spanNames(t, spans); !contains(names, "git fetch") {
		t.Errorf("spans %v: want git fetch to have done it", names)
	}
	if b, err := m.ReadFile(ctx, next, "README.md"); err != nil || string(b) != "next\n" {
		t.Fatalf("ReadFile after the fetch: %q, %v", b, err)
	}
	if !cache.catFile(m.Dir).legacy {
		t.Error("the reader did not switch to --batch")
	}
}
