package actions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/oci"
	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/workflow"
)

// Dockerfile actions (runs.image: Dockerfile, issue 12) are built without a
// daemon: FROM is pulled through the job's image source (its registries
// and mirrors), the configuration instructions change the image's config,
// COPY and ADD copy the action's own files (a snapshot taken from the
// sandbox: the build context) through oci.CopyIn, and each RUN runs in a
// container of the job's own sandbox (the same user namespace mapping,
// seccomp filter, cgroup limits and network namespace as the job's
// containers, no host path) whose root is the build's private, writable
// copy of the image (sandbox.ContainerSpec.Writable). The result is stored
// as an image of the host's image store, cached under buildKey.
//
// The cache key hashes the build's scope with everything the build reads:
// the base image's digest and platform, the parsed Dockerfile and every
// file of the context. The scope is the repository, and for a pull request
// from a fork also the fork: what a RUN produces may depend on more than
// the key (the network, services of the job), so an image is only reused
// by jobs of the trust domain that built it — a fork's pull request never
// builds an image its base repository's runs then use, and no repository's
// jobs use another's.

// dockerfileBackends are the backends that build Dockerfile actions.
var dockerfileBackends = map[string]bool{"namespace": true}

// errBuildBackend says why a backend does not build a Dockerfile action.
func errBuildBackend(backend string) error {
	if backend == "microvm" {
		return errors.New("building a Dockerfile action's image is not supported on the microvm backend: a microVM gets its container images as read-only disks when it boots, and a build's RUN needs a writable copy of the image whose result comes back to the host's image store; run this job on the namespace backend, or use an action published with a prebuilt image (runs.image: docker://…)")
	}
	return fmt.Errorf("building a Dockerfile action's image needs the namespace backend (this job runs on %s, which has no container support for builds); use an action published with a prebuilt image (runs.image: docker://…)", backend)
}

// BuildCount counts the images this process built (not cache hits); tests
// read it to tell a build from a cache hit.
var BuildCount atomic.Int64

// runDockerfile builds (or finds cached) a Dockerfile action's image and
// runs it as a prebuilt Docker action's.
func (r *Executor) runDockerfile(ctx context.Context, j *runner.Job, idx int, act *action, inputs, env map[string]string) (runner.StepOutcome, error) {
	df, err := readDockerfile(ctx, j, act)
	if err != nil {
		return runner.StepOutcome{}, fmt.Errorf("%s: %w", act.ref.Raw, err)
	}
	if !dockerfileBackends[j.Guest.Backend] || j.Guest.Containers == nil {
		return runner.StepOutcome{}, fmt.Errorf("%s: %w", act.ref.Raw, errBuildBackend(j.Guest.Backend))
	}
	if j.Spec.Builds == nil || j.Spec.Images == nil {
		return runner.StepOutcome{}, fmt.Errorf("%s: building its image (%s) needs an image store, and none is configured", act.ref.Raw, df.Name)
	}
	img, err := buildDockerfile(ctx, j, idx, act, df)
	if err != nil {
		return runner.StepOutcome{}, fmt.Errorf("%s: building %s: %w", act.ref.Raw, df.Name, err)
	}
	return r.runDockerImage(ctx, j, idx, act, inputs, env, img)
}

// buildScope is the trust domain a job's builds are cached in: its
// repository, and for a pull request from a fork the fork too.
func buildScope(ev runner.EventInfo) string {
	scope := "repo " + strings.ToLower(ev.Repo)
	if ev.Fork {
		var p struct {
			PullRequest struct {
				Head struct {
					Repo struct {
						FullName string `json:"full_name"`
					} `json:"repo"`
				} `json:"head"`
			} `json:"pull_request"`
		}
		json.Unmarshal(ev.Payload, &p)
		scope += "\nfork " + strings.ToLower(p.PullRequest.Head.Repo.FullName)
	}
	return scope
}

// buildDockerfile snapshots the build context, pulls the base image and
// builds (or finds cached) the image.
func buildDockerfile(ctx context.Context, j *runner.Job, idx int, act *action, df *Dockerfile) (*runner.Image, error) {
	start := time.Now()
	ctxDir, err := os.MkdirTemp("", "hookci-build-context-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(ctxDir)
	// A snapshot of the build context, taken once: the build reads
	// only it, so the key and the build see the same files whatever the
	// job does meanwhile.
	// The context is the Dockerfile's directory, as GitHub's runner builds
	// it (runs.image: docker/Dockerfile → docker/).
	rel, err := safeRel(act.meta.Runs.Image)
	if err != nil {
		return nil, err
	}
	rc, err := j.Guest.Client.GetFiles(ctx, path.Join(act.dir, path.Dir(rel)))
	if err != nil {
		return nil, fmt.Errorf("reading the build context: %w", err)
	}
	err = extractTree(rc, ctxDir)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the build context: %w", err)
	}
	if err := applyDockerignore(ctxDir); err != nil {
		return nil, fmt.Errorf("reading the build context: %w", err)
	}
	ctxSum, err := hashTree(ctxDir)
	if err != nil {
		return nil, fmt.Errorf("reading the build context: %w", err)
	}
	st := newBuildState(df)
	from := df.Instructions[0]
	for _, in := range df.Instructions {
		if in.Cmd == "FROM" {
			from = in
			break
		}
		st.argDecl(in) // ARG before FROM: for FROM only
	}
	baseRef := st.expand(from.Args[0])
	if baseRef == "scratch" {
		return nil, fmt.Errorf("%s:%d: FROM scratch is not supported (a build needs a base image with a shell for RUN)", df.Name, from.Line)
	}
	j.Log(idx, "Pulling "+baseRef+" (FROM)")
	base, err := j.Spec.Images(ctx, baseRef, nil)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: pulling %s: %w", df.Name, from.Line, baseRef, err)
	}
	if err := runner.CheckPlatform(base); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", df.Name, from.Line, err)
	}
	if p := from.Flags["platform"]; p != "" && p != base.OS+"/"+base.Arch {
		return nil, fmt.Errorf("%s:%d: FROM --platform=%s: this runner builds for %s/%s", df.Name, from.Line, p, base.OS, base.Arch)
	}
	dfJSON, _ := json.Marshal(df.Instructions)
	h := sha256.New()
	baseID := base.Digest
	if baseID == "" {
		baseID = "rootfs " + base.RootFS
	}
	for _, part := range []string{"hookci dockerfile build v1", buildScope(j.Spec.Event), baseID, base.OS + "/" + base.Arch, df.Name, string(dfJSON), ctxSum} {
		fmt.Fprintf(h, "%d:%s\n", len(part), part)
	}
	key := hex.EncodeToString(h.Sum(nil))
	runs := 0
	img, cached, err := j.Spec.Builds(ctx, key, base, func(rootfs string, img *runner.Image) error {
		j.Log(idx, fmt.Sprintf("Building the image of %s from %s (FROM %s)", act.ref.Raw, df.Name, baseRef))
		return st.apply(ctx, j, idx, ctxDir, rootfs, img, &runs)
	})
	if err != nil {
		return nil, err
	}
	took := time.Since(start).Round(time.Millisecond)
	if cached {
		j.Log(idx, fmt.Sprintf("Using the cached image built from %s (%s%s) in %s", df.Name, oci.BuiltPrefix, "sha256:"+key[:12], took))
	} else {
		BuildCount.Add(1)
		j.Log(idx, fmt.Sprintf("Built the image of %s from %s in %s (%d RUN; %s%s)", act.ref.Raw, df.Name, took, runs, oci.BuiltPrefix, "sha256:"+key[:12]))
	}
	return img, nil
}

// hashTree hashes a directory's files: names, kinds, modes, link targets
// and contents, in a fixed order.
func hashTree(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%q %o ", rel, fi.Mode())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "-> %q\n", t)
		case fi.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			fh := sha256.New()
			_, err = io.Copy(fh, f)
			f.Close()
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%x\n", fh.Sum(nil))
		default:
			fmt.Fprintln(h)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// applyDockerignore removes from the context snapshot what its
// .dockerignore excludes, as Docker leaves it out of the context: one
// pattern a line ("#" comments), `*`, `?` and `**` (any number of
// directories), a leading "!" re-including, the last matching line
// deciding; a pattern that matches a directory excludes what is in it.
func applyDockerignore(ctxDir string) error {
	data, err := os.ReadFile(filepath.Join(ctxDir, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	type rule struct {
		re  *regexp.Regexp
		neg bool
	}
	var rules []rule
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		neg := strings.HasPrefix(line, "!")
		pat := strings.Trim(path.Clean("/"+strings.TrimPrefix(line, "!")), "/")
		var b strings.Builder
		b.WriteString("^")
		for i := 0; i < len(pat); i++ {
			switch c := pat[i]; {
			case c == '*' && i+1 < len(pat) && pat[i+1] == '*':
				b.WriteString(".*")
				i++
				if i+1 < len(pat) && pat[i+1] == '/' {
					b.WriteString("/?")
					i++
				}
			case c == '*':
				b.WriteString("[^/]*")
			case c == '?':
				b.WriteString("[^/]")
			default:
				b.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		b.WriteString("(/.*)?$") // a directory's contents too
		re, err := regexp.Compile(b.String())
		if err != nil {
			return fmt.Errorf(".dockerignore: %q: %w", line, err)
		}
		rules = append(rules, rule{re, neg})
	}
	excluded := func(rel string) bool {
		out := false
		for _, r := range rules {
			if r.re.MatchString(rel) {
				out = !r.neg
			}
		}
		return out
	}
	var remove []string
	err = filepath.WalkDir(ctxDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == ctxDir || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(ctxDir, p)
		if excluded(filepath.ToSlash(rel)) {
			remove = append(remove, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range remove {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return nil
}

// buildState is what the instructions build up.
type buildState struct {
	df      *Dockerfile
	args    map[string]string // ARGs in scope (declared after FROM)
	argSeen map[string]bool
	preFrom map[string]string // ARGs declared before FROM: a bare ARG after it takes their value
	shell   []string
}

func newBuildState(df *Dockerfile) *buildState {
	return &buildState{df: df, args: map[string]string{}, argSeen: map[string]bool{}, shell: []string{"/bin/sh", "-c"}}
}

// argDecl declares an ARG (with its default, if any).
func (s *buildState) argDecl(in Instruction) {
	for _, a := range in.Args {
		k, v, ok := strings.Cut(a, "=")
		s.argSeen[k] = true
		if ok {
			s.args[k] = s.expand(unquote(v))
		} else if _, had := s.args[k]; !had {
			s.args[k] = s.preFrom[k]
		}
	}
}

// expand substitutes $VAR, ${VAR}, ${VAR:-default} and ${VAR:+alt} with the
// image's ENV and the ARGs in scope (ENV first), as Docker does for the
// instructions other than RUN, CMD and ENTRYPOINT; \$ is a literal $.
func (s *buildState) expand(str string) string { return s.expandEnv(str, nil) }

func (s *buildState) expandEnv(str string, env []string) string {
	lookup := func(k string) (string, bool) {
		for i := len(env) - 1; i >= 0; i-- {
			if ek, ev, ok := strings.Cut(env[i], "="); ok && ek == k {
				return ev, true
			}
		}
		v, ok := s.args[k]
		return v, ok
	}
	var b strings.Builder
	for i := 0; i < len(str); i++ {
		c := str[i]
		if c == '\\' && i+1 < len(str) && str[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if c != '$' || i+1 >= len(str) {
			b.WriteByte(c)
			continue
		}
		if str[i+1] == '{' {
			end := strings.IndexByte(str[i:], '}')
			if end < 0 {
				b.WriteString(str[i:])
				break
			}
			expr := str[i+2 : i+end]
			i += end
			name, mod, word := expr, "", ""
			if k := strings.Index(expr, ":"); k >= 0 && k+1 < len(expr) && (expr[k+1] == '-' || expr[k+1] == '+') {
				name, mod, word = expr[:k], expr[k:k+2], expr[k+2:]
			}
			v, ok := lookup(name)
			switch {
			case mod == ":-" && (!ok || v == ""):
				v = word
			case mod == ":+":
				if ok && v != "" {
					v = word
				} else {
					v = ""
				}
			}
			b.WriteString(v)
			continue
		}
		j := i + 1
		for j < len(str) && (str[j] == '_' || str[j] >= 'a' && str[j] <= 'z' || str[j] >= 'A' && str[j] <= 'Z' || str[j] >= '0' && str[j] <= '9') {
			j++
		}
		if j == i+1 {
			b.WriteByte(c)
			continue
		}
		v, _ := lookup(str[i+1 : j])
		b.WriteString(v)
		i = j - 1
	}
	return b.String()
}

func unquote(s string) string {
	if w, err := workflow.SplitArgs(s); err == nil && len(w) == 1 {
		return w[0]
	}
	return s
}

// pairs splits "k=v k2=v2" (or the legacy "k v") of ENV and LABEL.
func (s *buildState) pairs(in Instruction, env []string) ([][2]string, error) {
	words, err := workflow.SplitArgs(strings.Join(in.Args, " "))
	if err != nil {
		return nil, fmt.Errorf("%s:%d: %s: %w", s.df.Name, in.Line, in.Cmd, err)
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("%s:%d: %s needs arguments", s.df.Name, in.Line, in.Cmd)
	}
	if !strings.Contains(words[0], "=") {
		if len(words) < 2 {
			return nil, fmt.Errorf("%s:%d: %s %s needs a value", s.df.Name, in.Line, in.Cmd, words[0])
		}
		return [][2]string{{words[0], s.expandEnv(strings.Join(words[1:], " "), env)}}, nil
	}
	var out [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s:%d: %s: %q is not NAME=VALUE", s.df.Name, in.Line, in.Cmd, w)
		}
		out = append(out, [2]string{k, s.expandEnv(v, env)})
	}
	return out, nil
}

// apply runs the instructions after FROM on the build's root filesystem
// and image config.
func (s *buildState) apply(ctx context.Context, j *runner.Job, idx int, ctxDir, rootfs string, img *runner.Image, runs *int) error {
	s.preFrom = s.args
	s.args, s.argSeen = map[string]string{}, map[string]bool{} // ARGs before FROM end at FROM
	after := false
	cmdSet := false
	img.Env = append([]string(nil), img.Env...)
	for _, in := range s.df.Instructions {
		if in.Cmd == "FROM" {
			after = true
			continue
		}
		if !after {
			continue
		}
		where := fmt.Sprintf("%s:%d", s.df.Name, in.Line)
		switch in.Cmd {
		case "ARG":
			s.argDecl(in)
		case "ENV":
			kvs, err := s.pairs(in, img.Env)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				img.Env = setEnv(img.Env, kv[0], kv[1])
			}
		case "LABEL":
			kvs, err := s.pairs(in, img.Env)
			if err != nil {
				return err
			}
			if img.Labels == nil {
				img.Labels = map[string]string{}
			} else {
				labels := map[string]string{}
				for k, v := range img.Labels {
					labels[k] = v
				}
				img.Labels = labels
			}
			for _, kv := range kvs {
				img.Labels[kv[0]] = kv[1]
			}
		case "WORKDIR":
			dir := s.expandEnv(strings.Join(in.Args, " "), img.Env)
			if !path.IsAbs(dir) {
				dir = path.Join("/", img.WorkingDir, dir)
			}
			img.WorkingDir = path.Clean(dir)
			if err := mkdirIn(rootfs, img.WorkingDir); err != nil {
				return fmt.Errorf("%s: WORKDIR %s: %w", where, img.WorkingDir, err)
			}
		case "USER":
			img.User = s.expandEnv(in.Args[0], img.Env)
		case "EXPOSE":
			for _, p := range in.Args {
				p = s.expandEnv(p, img.Env)
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				img.ExposedPorts = append(img.ExposedPorts, p)
			}
		case "SHELL":
			s.shell = in.Args
		case "ENTRYPOINT":
			img.Entrypoint = s.command(in)
			if !cmdSet {
				img.Cmd = nil // the base image's CMD goes with its ENTRYPOINT
			}
		case "CMD":
			img.Cmd = s.command(in)
			cmdSet = true
		case "COPY", "ADD":
			if err := s.copy(in, ctxDir, rootfs, img); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		case "RUN":
			*runs++
			if err := s.run(ctx, j, idx, in, rootfs, img, *runs); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		default:
			return fmt.Errorf("%s: %s is not supported in a Dockerfile action's build", where, in.Cmd)
		}
	}
	return nil
}

func setEnv(env []string, k, v string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if ek, _, _ := strings.Cut(kv, "="); ek != k {
			out = append(out, kv)
		}
	}
	return append(out, k+"="+v)
}

// command is the argv of a RUN, CMD or ENTRYPOINT: the JSON form as
// written, the shell form through SHELL.
func (s *buildState) command(in Instruction) []string {
	if in.JSON {
		return append([]string(nil), in.Args...)
	}
	return append(append([]string(nil), s.shell...), in.Args...)
}

// mkdirIn makes dir (absolute, in the image) and its parents inside rootfs,
// never through a link out of it.
func mkdirIn(rootfs, dir string) error {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	rel := strings.TrimPrefix(path.Clean(dir), "/")
	if rel == "" {
		return nil
	}
	return root.MkdirAll(rel, 0o755)
}

// copy runs COPY or ADD (of the context's files; ADD does not extract
// archives here, and is refused for one).
func (s *buildState) copy(in Instruction, ctxDir, rootfs string, img *runner.Image) error {
	args := make([]string, len(in.Args))
	for i, a := range in.Args {
		args[i] = s.expandEnv(a, img.Env)
	}
	dst := args[len(args)-1]
	if !path.IsAbs(dst) {
		d := path.Join("/", img.WorkingDir, dst)
		if strings.HasSuffix(dst, "/") || dst == "." {
			d += "/"
		}
		dst = d
	}
	uid, gid := 0, 0
	if c := in.Flags["chown"]; c != "" {
		var err error
		if uid, gid, err = runner.ResolveUser(rootfs, s.expandEnv(c, img.Env)); err != nil {
			return fmt.Errorf("%s --chown=%s: %w", in.Cmd, c, err)
		}
	}
	var mode fs.FileMode
	if m := in.Flags["chmod"]; m != "" {
		n, err := strconv.ParseUint(m, 8, 32)
		if err != nil || n > 0o7777 {
			return fmt.Errorf("%s --chmod=%s: not an octal mode", in.Cmd, m)
		}
		mode = fs.FileMode(n & 0o777)
		if n&0o4000 != 0 {
			mode |= fs.ModeSetuid
		}
		if n&0o2000 != 0 {
			mode |= fs.ModeSetgid
		}
		if n&0o1000 != 0 {
			mode |= fs.ModeSticky
		}
	}
	var srcs []string
	for _, src := range args[:len(args)-1] {
		if in.Cmd == "ADD" && isArchive(src) {
			return fmt.Errorf("ADD %s: extracting an archive is not supported; use COPY and a RUN that extracts it", src)
		}
		if strings.ContainsAny(src, "*?[") {
			matches, err := fs.Glob(os.DirFS(ctxDir), strings.TrimPrefix(path.Clean("/"+src), "/"))
			if err != nil || len(matches) == 0 {
				return fmt.Errorf("%s %s: no file of the build context matches", in.Cmd, src)
			}
			sort.Strings(matches)
			srcs = append(srcs, matches...)
			continue
		}
		srcs = append(srcs, src)
	}
	if len(srcs) > 1 && !strings.HasSuffix(dst, "/") {
		dst += "/"
	}
	for _, src := range srcs {
		if err := oci.CopyInMode(ctxDir, src, rootfs, dst, uid, gid, mode); err != nil {
			return fmt.Errorf("%s %s: %w", in.Cmd, src, err)
		}
	}
	return nil
}

func isArchive(name string) bool {
	for _, ext := range []string{".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst"} {
		if strings.HasSuffix(strings.ToLower(name), ext) {
			return true
		}
	}
	return false
}

// run runs a RUN in a container of the job's sandbox whose root is the
// build's root filesystem, writable; its output goes to the step's log.
func (s *buildState) run(ctx context.Context, j *runner.Job, idx int, in Instruction, rootfs string, img *runner.Image, n int) (err error) {
	uid, gid, err := runner.ResolveUser(rootfs, img.User)
	if err != nil {
		return fmt.Errorf("RUN as USER %s: %w", img.User, err)
	}
	ctr, err := j.Guest.Containers(ctx, runner.ContainerRequest{Name: fmt.Sprintf("build%d-%d", idx, n), RootFS: rootfs, UID: uid, GID: gid, Writable: true})
	if err != nil {
		return fmt.Errorf("RUN: starting its container: %w", err)
	}
	defer func() {
		// Closing gives the root back its image's owners: it must succeed
		// for the build to be stored.
		if cerr := ctr.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("RUN: %w", cerr)
		}
	}()
	env := append([]string(nil), img.Env...)
	for k, v := range s.args {
		if !hasEnv(env, k) {
			env = append(env, k+"="+v)
		}
	}
	if !hasEnv(env, "PATH") {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	if !hasEnv(env, "HOME") {
		env = append(env, "HOME=/root")
	}
	dir := img.WorkingDir
	if dir == "" {
		dir = "/"
	}
	argv := s.command(in)
	w := &lineLog{log: func(l string) { j.Log(idx, l) }}
	res, err := ctr.Client.Exec(ctx, agent.ExecRequest{Argv: argv, Env: env, Dir: dir}, w)
	w.flush()
	if err != nil {
		return fmt.Errorf("RUN: %w", err)
	}
	if res.ExitCode != 0 {
		how := "exit code " + strconv.Itoa(res.ExitCode)
		if res.Signal != "" {
			how = "signal " + res.Signal
		}
		return fmt.Errorf("RUN %s failed (%s)", strings.Join(in.Args, " "), how)
	}
	return nil
}

func hasEnv(env []string, k string) bool {
	for _, kv := range env {
		if ek, _, _ := strings.Cut(kv, "="); ek == k {
			return true
		}
	}
	return false
}

// lineLog passes output on line by line (a line of more than 64 KiB in
// pieces).
type lineLog struct {
	log func(string)
	buf []byte
}

func (w *lineLog) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			if len(w.buf) > 64<<10 {
				w.log(string(w.buf))
				w.buf = w.buf[:0]
			}
			return len(p), nil
		}
		w.log(strings.TrimSuffix(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
}

func (w *lineLog) flush() {
	if len(w.buf) > 0 {
		w.log(string(w.buf))
		w.buf = nil
	}
}
