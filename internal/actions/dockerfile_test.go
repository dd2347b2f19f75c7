package actions

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseDockerfile: a Dockerfile a daemon-less build can do parses into
// its instructions; what it cannot do is refused naming file:line and the
// instruction.
func TestParseDockerfile(t *testing.T) {
	good := "# syntax comment\nARG BASE=debian:bookworm\nFROM debian:bookworm\n" +
		"COPY entrypoint.sh /entrypoint.sh\nRUN chmod +x /entrypoint.sh && \\\n  # inner comment\n  echo built > /built\n" +
		"ENV A=1 B=2\nWORKDIR /w\nUSER 0\nLABEL x=y\nSHELL [\"/bin/bash\", \"-c\"]\nEXPOSE 80\n" +
		"ENTRYPOINT [\"/entrypoint.sh\"]\nCMD echo hi\n"
	df, err := ParseDockerfile("Dockerfile", []byte(good))
	if err != nil {
		t.Fatalf("good Dockerfile: %v", err)
	}
	var cmds []string
	for _, in := range df.Instructions {
		cmds = append(cmds, in.Cmd)
	}
	if got, want := strings.Join(cmds, " "), "ARG FROM COPY RUN ENV WORKDIR USER LABEL SHELL EXPOSE ENTRYPOINT CMD"; got != want {
		t.Errorf("instructions: got %q, want %q", got, want)
	}
	run := df.Instructions[3]
	if got, want := run.Line, 5; got != want {
		t.Errorf("RUN line: got %d, want %d", got, want)
	}
	if got, want := run.Args, []string{"chmod +x /entrypoint.sh &&  echo built > /built"}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("RUN args: got %q, want %q", got, want)
	}
	ep := df.Instructions[10]
	if !ep.JSON || len(ep.Args) != 1 || ep.Args[0] != "/entrypoint.sh" {
		t.Errorf("ENTRYPOINT: got %+v, want JSON [/entrypoint.sh]", ep)
	}

	bad := []struct{ name, file, want string }{
		{"no from", "RUN true\n", "Dockerfile:1: RUN before FROM"},
		{"empty", "# nothing\n", "Dockerfile:1: no FROM"},
		{"onbuild", "FROM debian:bookworm\n\nONBUILD RUN true\n", "Dockerfile:3: ONBUILD is not supported"},
		{"multi-stage", "FROM debian:bookworm\nRUN true\nFROM debian:bookworm\n", "Dockerfile:3: a second FROM"},
		{"stage name", "FROM debian:bookworm AS b\n", "Dockerfile:1: FROM takes one image"},
		{"copy from", "FROM debian:bookworm\nCOPY --from=b /x /y\n", "Dockerfile:2: COPY --from (multi-stage) is not supported"},
		{"add url", "FROM debian:bookworm\nADD https://example.invalid/x /x\n", "Dockerfile:2: ADD of a URL"},
		{"unknown flag", "FROM debian:bookworm\nRUN --mount=type=cache,target=/x true\n", "Dockerfile:2: RUN --mount is not supported"},
		{"heredoc", "FROM debian:bookworm\nRUN <<EOF\ntrue\nEOF\n", "Dockerfile:2: RUN: heredocs"},
		{"healthcheck", "FROM debian:bookworm\nHEALTHCHECK CMD true\n", "Dockerfile:2: HEALTHCHECK is not supported"},
		{"typo", "FROM debian:bookworm\nRUNN true\n", "Dockerfile:2: RUNN is not supported"},
		{"copy one arg", "FROM debian:bookworm\nCOPY x\n", "Dockerfile:2: COPY needs a source and a destination"},
		{"shell form shell", "FROM debian:bookworm\nSHELL /bin/sh -c\n", "Dockerfile:2: SHELL needs the JSON form"},
		{"escape directive", "# escape=`\nFROM debian:bookworm\n", "Dockerfile:1: the escape parser directive"},
		{"line after continuation", "FROM debian:bookworm\nRUN a \\\n b\nVOLUME /v\n", "Dockerfile:4: VOLUME is not supported"},
	}
	for _, c := range bad {
		_, err := ParseDockerfile("Dockerfile", []byte(c.file))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error starting %q", c.name, err, c.want)
		}
	}
}

// TestDockerfileExpand: the variable substitution of a daemon-less build
// (ENV before ARG, defaults, alternatives, escapes) and .dockerignore.
func TestDockerfileExpand(t *testing.T) {
	s := newBuildState(&Dockerfile{Name: "Dockerfile"})
	s.args = map[string]string{"A": "arg", "E": "from-arg", "EMPTY": ""}
	env := []string{"E=from-env", "PATH=/bin"}
	for in, want := range map[string]string{
		"$A/${A}":           "arg/arg",
		"${E}":              "from-env",
		"${EMPTY:-def}":     "def",
		"${MISSING:-def}":   "def",
		"${A:+alt}":         "alt",
		"${EMPTY:+alt}":     "",
		`\$A`:               "$A",
		"$":                 "$",
		"a$-b":              "a$-b",
		"${UNCLOSED":        "${UNCLOSED",
		"x${MISSING}y$NOPE": "xy",
	} {
		if got := s.expandEnv(in, env); got != want {
			t.Errorf("expand %q = %q, want %q", in, got, want)
		}
	}
	dir := t.TempDir()
	for p, c := range map[string]string{
		".dockerignore": "# comment\n*.md\n!keep.md\n/build/**\nsecret?.txt\n",
		"a.md":          "x", "keep.md": "x", "sub/b.md": "x", "build/x/y": "x", "secret1.txt": "x", "secret10.txt": "x", "main.go": "x",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644)
	}
	if err := applyDockerignore(dir); err != nil {
		t.Fatal(err)
	}
	for p, kept := range map[string]bool{"a.md": false, "keep.md": true, "sub/b.md": true, "build/x/y": false,
		"secret1.txt": false, "secret10.txt": true, "main.go": true, ".dockerignore": true} {
		_, err := os.Stat(filepath.Join(dir, p))
		if (err == nil) != kept {
			t.Errorf("%s: kept=%v, want %v", p, err == nil, kept)
		}
	}
}
