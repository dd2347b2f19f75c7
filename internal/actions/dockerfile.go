package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/hookci/hookci/internal/runner"
)

// Dockerfile is a parsed Dockerfile of a Docker action (runs.image:
// Dockerfile): one build stage, its instructions in order.
type Dockerfile struct {
	// Name is the file's name as errors print it (e.g. "Dockerfile").
	Name string
	// Instructions are the file's instructions, ARGs before FROM included.
	Instructions []Instruction
}

// Instruction is one Dockerfile instruction.
type Instruction struct {
	// Line is the 1-based line the instruction starts on.
	Line int
	// Cmd is the instruction's keyword in upper case (FROM, RUN, …).
	Cmd string
	// Flags are the instruction's leading --name=value flags.
	Flags map[string]string
	// Args are the arguments: for the JSON (exec) form the array's
	// elements, for the shell form the rest of the line as one element
	// (RUN, CMD, ENTRYPOINT, SHELL) or split on blanks (the others).
	Args []string
	// JSON reports whether the arguments were written in the JSON form.
	JSON bool
}

// supportedFlags reports whether a daemon-less build knows an instruction,
// and the flags it accepts.
func supportedFlags(cmd string) ([]string, bool) {
	switch cmd {
	case "FROM":
		return []string{"platform"}, true
	case "COPY", "ADD":
		return []string{"chown", "chmod"}, true
	case "RUN", "ENV", "ARG", "WORKDIR", "USER", "LABEL", "ENTRYPOINT", "CMD", "SHELL", "EXPOSE":
		return nil, true
	}
	return nil, false
}

// ParseDockerfile parses a Dockerfile for a daemon-less build. It refuses,
// naming the file, the line and the instruction, what such a build does not
// do: a second FROM (multi-stage), COPY --from, ADD of a URL, ONBUILD,
// HEALTHCHECK, VOLUME, STOPSIGNAL, MAINTAINER, heredocs and unknown
// instructions or flags. A file with no FROM is refused too.
func ParseDockerfile(name string, data []byte) (*Dockerfile, error) {
	df := &Dockerfile{Name: name}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	from := 0
	for i := 0; i < len(lines); i++ {
		start := i + 1
		text := strings.TrimSpace(lines[i])
		if text == "" || strings.HasPrefix(text, "#") {
			if strings.HasPrefix(strings.ToLower(strings.ReplaceAll(text, " ", "")), "#escape=") && len(df.Instructions) == 0 {
				return nil, fmt.Errorf("%s:%d: the escape parser directive is not supported", name, start)
			}
			continue
		}
		// Join continuation lines; comment lines inside are dropped.
		for strings.HasSuffix(text, "\\") {
			text = strings.TrimSuffix(text, "\\")
			i++
			for i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "#") {
				i++
			}
			if i >= len(lines) {
				break
			}
			text += " " + strings.TrimSpace(lines[i])
		}
		in, err := parseInstruction(text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, start, err)
		}
		in.Line = start
		if err := checkInstruction(&in, from); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, start, err)
		}
		if in.Cmd == "FROM" {
			from++
		}
		df.Instructions = append(df.Instructions, in)
	}
	if from == 0 {
		return nil, fmt.Errorf("%s:1: no FROM instruction", name)
	}
	return df, nil
}

// parseInstruction splits one logical line into keyword, flags and args.
func parseInstruction(text string) (Instruction, error) {
	kw, rest, _ := strings.Cut(text, " ")
	in := Instruction{Cmd: strings.ToUpper(kw), Flags: map[string]string{}}
	rest = strings.TrimSpace(rest)
	for strings.HasPrefix(rest, "--") {
		var flag string
		flag, rest, _ = strings.Cut(rest, " ")
		rest = strings.TrimSpace(rest)
		k, v, _ := strings.Cut(strings.TrimPrefix(flag, "--"), "=")
		in.Flags[k] = v
	}
	if strings.Contains(rest, "<<") && (in.Cmd == "RUN" || in.Cmd == "COPY" || in.Cmd == "ADD") {
		return in, fmt.Errorf("%s: heredocs are not supported", in.Cmd)
	}
	if strings.HasPrefix(rest, "[") {
		var arr []string
		if err := json.Unmarshal([]byte(rest), &arr); err == nil {
			in.Args, in.JSON = arr, true
			return in, nil
		}
		// Docker treats an invalid JSON array as the shell form.
	}
	switch in.Cmd {
	case "RUN", "CMD", "ENTRYPOINT", "SHELL":
		if rest != "" {
			in.Args = []string{rest}
		}
	default:
		in.Args = strings.Fields(rest)
	}
	return in, nil
}

// checkInstruction refuses what a daemon-less single-stage build does not do.
func checkInstruction(in *Instruction, froms int) error {
	flags, ok := supportedFlags(in.Cmd)
	if !ok {
		return fmt.Errorf("%s is not supported in a Dockerfile action's build", in.Cmd)
	}
	for k := range in.Flags {
		if k == "from" {
			return fmt.Errorf("%s --from (multi-stage) is not supported", in.Cmd)
		}
		known := false
		for _, f := range flags {
			known = known || f == k
		}
		if !known {
			return fmt.Errorf("%s --%s is not supported", in.Cmd, k)
		}
	}
	if froms == 0 && in.Cmd != "FROM" && in.Cmd != "ARG" {
		return fmt.Errorf("%s before FROM", in.Cmd)
	}
	switch in.Cmd {
	case "FROM":
		if froms > 0 {
			return fmt.Errorf("a second FROM (multi-stage build) is not supported")
		}
		if len(in.Args) != 1 {
			return fmt.Errorf("FROM takes one image (got %q; AS names a stage of a multi-stage build, not supported)", strings.Join(in.Args, " "))
		}
	case "COPY", "ADD":
		if len(in.Args) < 2 {
			return fmt.Errorf("%s needs a source and a destination", in.Cmd)
		}
		for _, src := range in.Args[:len(in.Args)-1] {
			if strings.Contains(src, "://") || strings.HasPrefix(src, "git@") {
				return fmt.Errorf("%s of a URL (%s) is not supported: the build reaches only the action's own files", in.Cmd, src)
			}
		}
	case "RUN", "ENTRYPOINT", "WORKDIR", "USER":
		if len(in.Args) == 0 {
			return fmt.Errorf("%s needs an argument", in.Cmd)
		}
	case "SHELL":
		if !in.JSON || len(in.Args) == 0 {
			return fmt.Errorf("SHELL needs the JSON form, e.g. [\"/bin/sh\", \"-c\"]")
		}
	}
	return nil
}

// readDockerfile reads and parses a Dockerfile action's Dockerfile
// (runs.image, relative to the action's directory) from the sandbox, so a
// Dockerfile the build cannot do fails the step naming its file and line.
func readDockerfile(ctx context.Context, j *runner.Job, act *action) (*Dockerfile, error) {
	rel, err := safeRel(act.meta.Runs.Image)
	if err != nil || rel == "" {
		return nil, fmt.Errorf("runs.image %q: not a Dockerfile in the action's directory", act.meta.Runs.Image)
	}
	data, err := j.Guest.Client.ReadFile(ctx, path.Join(act.dir, rel))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", rel, err)
	}
	name := rel
	if act.ref.Kind == RefLocal {
		name = path.Join(act.ref.Path, rel)
	}
	return ParseDockerfile(name, data)
}
