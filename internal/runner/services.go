package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/expr"
	"github.com/hookci/hookci/internal/nodebundle"
	"github.com/hookci/hookci/internal/workflow"
)

// service is one running service container of the job.
type service struct {
	id    string
	ctr   *Container
	logs  *tailBuffer
	ports map[string]string // container port → where the job reaches it (the same)
	done  chan struct{}     // closed when its main process ended
	err   error             // how it ended, once done
}

// containerState is the job's containers: its job container (nil for a
// job on the runner) and its services.
type containerState struct {
	job      *Container
	services []*service
	bash     bool // the job container's image has bash
}

// Container paths GitHub uses for container jobs.
const (
	ctrWork = "/__w"
	ctrHome = "/github/home"
	ctrTool = "/__t"
	ctrNode = nodebundle.Mount // the sandbox's node bundle: bin/node, lib/…
)

// Node is the node binary JavaScript actions run with in this job: "node"
// (from PATH) on the runner; in a job container the sandbox's
// self-contained node bound into it (package nodebundle: its own glibc
// loader and libraries, so any image runs it, with or without a libc). It
// fails, saying why, where the sandbox has none to bind.
func (j *Job) Node() (string, error) {
	if j.ctrs == nil || j.ctrs.job == nil {
		return "node", nil
	}
	if j.Guest.Layout.Node == "" {
		why := j.Guest.Layout.NoNode
		if why == "" {
			why = "it has no node to bind into the container"
		}
		return "", fmt.Errorf("JavaScript actions cannot run in a job container on the %s sandbox: %s", j.Guest.Backend, why)
	}
	return j.Guest.Layout.Node, nil
}

// hasContainers reports whether the job asks for containers.
func (j *Job) hasContainers() bool {
	return j.Spec.Job.Container != nil || j.Spec.Job.Services != nil
}

// initContainers starts the job's services and its job container, logging
// to the set-up step, and waits for the services' health checks. For a
// container job the job then runs through the container's agent.
func (j *Job) initContainers(ctx context.Context) error {
	env := j.exprEnv(nil)
	ctrSpec, err := j.Spec.Job.EvalContainer(env)
	if err != nil {
		return err
	}
	svcs, err := j.Spec.Job.EvalServices(env)
	if err != nil {
		return err
	}
	if ctrSpec == nil && len(svcs) == 0 {
		return nil
	}
	if j.Guest.Containers == nil {
		return fmt.Errorf("the %s sandbox cannot run containers (container:/services: need the namespace or microvm backend)", j.Guest.Backend)
	}
	if j.Spec.Images == nil {
		return errors.New("container images cannot be pulled: no image store is configured")
	}
	for _, c := range append([]*workflow.Container{ctrSpec}, containersOf(svcs)...) {
		if c != nil && c.Credentials != nil {
			j.Masker.Add(c.Credentials.Password)
		}
	}
	j.ctrs = &containerState{}
	var hosts []string
	for _, s := range svcs {
		hosts = append(hosts, s.ID)
	}
	for i, s := range svcs {
		svc, err := j.startService(ctx, i, s)
		if svc != nil {
			j.ctrs.services = append(j.ctrs.services, svc)
		}
		if err != nil {
			return err
		}
	}
	if ctrSpec != nil {
		if err := j.startJobContainer(ctx, ctrSpec, hosts); err != nil {
			return err
		}
	}
	return nil
}

func containersOf(svcs []workflow.Service) []*workflow.Container {
	var out []*workflow.Container
	for i := range svcs {
		out = append(out, &svcs[i].Container)
	}
	return out
}

var notName = regexp.MustCompile(`[^a-z0-9-]+`)

// containerName makes a sandbox-safe container name.
func containerName(prefix string, i int, label string) string {
	n := notName.ReplaceAllString(strings.ToLower(label), "-")
	return fmt.Sprintf("%s%d-%s", prefix, i, n[:min(len(n), 20)])
}

// pull resolves an image and checks that this sandbox can run it.
func (j *Job) pull(ctx context.Context, what, ref string, creds *workflow.Credentials) (*Image, error) {
	j.sink.StepLog(setupStep, fmt.Sprintf("Pulling %s for %s", ref, what))
	img, err := j.Spec.Images(ctx, ref, creds)
	if err != nil {
		return nil, fmt.Errorf("%s: pulling image %s: %w", what, ref, err)
	}
	if err := checkPlatform(img); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	j.sink.StepLog(setupStep, fmt.Sprintf("%s: %s", ref, img.Digest))
	return img, nil
}

// portMap is one entry of `ports:` as hookci serves it: the port the job
// reaches (host) and the one the container listens on (ctr).
type portMap struct {
	host, ctr string
	proto     string // "tcp" or "udp"
}

// parsePorts reads a container's `ports:` ("80", "8080:80",
// "127.0.0.1:8080:80", "8080:80/tcp", ranges "8000-8010"). The container
// shares the job's network, so a port is reached at its own number
// (localhost:<port> from the job, <label>:<port> from a job container);
// a TCP port mapped to another number ("8080:80") is also reached at that
// number through a relay the container's agent runs (forwardPorts). A UDP
// port or a range mapped to other numbers is refused, saying why.
func parsePorts(ports []string) ([]portMap, error) {
	var out []portMap
	for _, p := range ports {
		spec, proto, _ := strings.Cut(strings.TrimSpace(p), "/")
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return nil, fmt.Errorf("ports: %q: unknown protocol %q", p, proto)
		}
		parts := strings.Split(spec, ":")
		ctr := parts[len(parts)-1]
		host := ctr
		if len(parts) > 1 && parts[len(parts)-2] != "" {
			host = parts[len(parts)-2]
		}
		if host == ctr {
			out = append(out, portMap{host: host, ctr: ctr, proto: proto})
			continue
		}
		if strings.Contains(host, "-") || strings.Contains(ctr, "-") || proto != "tcp" {
			return nil, fmt.Errorf("ports: %q maps %s port %s to %s: hookci's services share the job's network and relay only single TCP ports to another number, so this one is reached at its own port (write %s:%s)",
				p, proto, host, ctr, ctr, ctr)
		}
		for _, n := range []string{host, ctr} {
			if v, err := strconv.Atoi(n); err != nil || v < 1 || v > 65535 {
				return nil, fmt.Errorf("ports: %q: %q is not a port number", p, n)
			}
		}
		out = append(out, portMap{host: host, ctr: ctr, proto: proto})
	}
	return out, nil
}

// forwardPorts starts, in the container whose agent is c, a relay from
// each mapping's host port to its container port.
func forwardPorts(ctx context.Context, c *agent.Client, maps []portMap) error {
	for _, m := range maps {
		if m.host == m.ctr {
			continue
		}
		h, _ := strconv.Atoi(m.host)
		ct, _ := strconv.Atoi(m.ctr)
		if err := c.Forward(ctx, agent.ForwardRequest{Port: h, TargetPort: ct}); err != nil {
			return fmt.Errorf("ports: relaying port %d to %d: %w", h, ct, err)
		}
	}
	return nil
}

// startService starts one service and waits until it is healthy.
func (j *Job) startService(ctx context.Context, i int, s workflow.Service) (*service, error) {
	what := "service " + s.ID
	opts, err := workflow.ParseOptions(s.Options)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	portMaps, err := parsePorts(s.Ports)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	img, err := j.pull(ctx, what, s.Image, s.Credentials)
	if err != nil {
		return nil, err
	}
	user := img.User
	if opts.User != "" {
		user = opts.User
	}
	uid, gid, err := resolveUser(img.RootFS, user)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	tmpfs, err := volumeDirs(s.Volumes, img.Volumes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	ctr, err := j.Guest.Containers(ctx, ContainerRequest{Name: containerName("svc", i, s.ID), RootFS: img.RootFS,
		UID: uid, GID: gid, Tmpfs: tmpfs, Hostname: cmpOr(opts.Hostname, s.ID)})
	if err != nil {
		return nil, fmt.Errorf("%s: starting its container: %w", what, err)
	}
	env := append([]string{}, img.Env...)
	for _, v := range s.Env {
		env = append(env, v.Name+"="+v.Value)
	}
	env = append(env, opts.Env...)
	if envValue(env, "PATH") == "" {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	argv := append(append([]string{}, img.Entrypoint...), img.Cmd...)
	if opts.Entrypoint != nil {
		argv = nil
		if *opts.Entrypoint != "" {
			argv = []string{*opts.Entrypoint}
		}
	}
	svc := &service{id: s.ID, ctr: ctr, logs: newTailBuffer(64 << 10), done: make(chan struct{}), ports: map[string]string{}}
	for _, m := range portMaps {
		svc.ports[m.ctr] = m.host
	}
	if len(argv) == 0 {
		close(svc.done)
		svc.err = errors.New("the image has no entrypoint or command")
		return svc, fmt.Errorf("%s: %w", what, svc.err)
	}
	wd := cmpOr(opts.Workdir, img.WorkingDir, "/")
	j.sink.StepLog(setupStep, fmt.Sprintf("Starting %s: %s (%s)", what, strings.Join(argv, " "), s.Image))
	go func() {
		defer close(svc.done)
		res, err := ctr.Client.Exec(context.WithoutCancel(ctx), agent.ExecRequest{Argv: argv, Env: env, Dir: wd}, svc.logs)
		if err == nil {
			err = fmt.Errorf("its process exited with code %d%s", res.ExitCode, sigSuffix(res.Signal))
			// A microVM's root container is root in the VM, and a root
			// server's namespace sandbox maps a root container's users
			// (namespace/container_userns.go): both may switch user. A
			// namespace sandbox of an unprivileged server cannot.
			if uid == 0 && res.ExitCode != 0 && j.Guest.Backend == "namespace" && os.Geteuid() != 0 {
				err = fmt.Errorf("%w; it started as root, and hookci runs a container as the job's one unprivileged user (root only inside the container, with no capabilities), so an entrypoint that changes file owners or switches user (gosu, su-exec, setpriv, su) fails: give the service `options: --user <user>` (for postgres: --user postgres)", err)
			}
		}
		svc.err = err
	}()
	for _, m := range portMaps {
		if m.host != m.ctr {
			j.sink.StepLog(setupStep, fmt.Sprintf("%s: port %s relayed to its port %s", what, m.host, m.ctr))
		}
	}
	if err := forwardPorts(ctx, ctr.Client, portMaps); err != nil {
		return svc, fmt.Errorf("%s: %w", what, err)
	}
	if err := j.waitHealthy(ctx, svc, img, opts, env, wd); err != nil {
		j.logServiceOutput(setupStep, svc)
		return svc, containerFault(err)
	}
	return svc, nil
}

func sigSuffix(sig string) string {
	if sig == "" {
		return ""
	}
	return " (" + sig + ")"
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// volumeDirs turns `volumes:` and the image's VOLUMEs into writable
// directories of the container (a fresh tmpfs each). A host path cannot be
// mounted: the host is outside the job's sandbox.
func volumeDirs(volumes, imageVolumes []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		p = path.Clean(p)
		if !seen[p] && p != "/" {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, v := range volumes {
		parts := strings.Split(v, ":")
		switch {
		case len(parts) == 1 && strings.HasPrefix(parts[0], "/"):
			add(parts[0])
		case len(parts) >= 2 && !strings.HasPrefix(parts[0], "/") && !strings.HasPrefix(parts[0], ".") && strings.HasPrefix(parts[1], "/"):
			add(parts[1]) // a named volume: empty, private to this container
		default:
			return nil, fmt.Errorf("volumes: %q: only named volumes (name:/path) and anonymous ones (/path) can be used; the host's directories are outside the job's sandbox", v)
		}
	}
	for _, v := range imageVolumes {
		add(v)
	}
	return out, nil
}

// waitHealthy runs the service's health check (options, else the image's)
// until it passes, and fails once it failed `retries` times in a row after
// the start period, or the service exited.
func (j *Job) waitHealthy(ctx context.Context, svc *service, img *Image, o workflow.ContainerOptions, env []string, wd string) error {
	var argv []string
	interval, timeout, retries, start := o.HealthInterval, o.HealthTimeout, o.HealthRetries, o.HealthStartPeriod
	switch {
	case o.NoHealthcheck:
	case o.HealthCmd != "":
		argv = []string{"/bin/sh", "-c", o.HealthCmd}
	case img.Healthcheck != nil && len(img.Healthcheck.Test) > 1 && img.Healthcheck.Test[0] == "CMD-SHELL":
		argv = []string{"/bin/sh", "-c", img.Healthcheck.Test[1]}
	case img.Healthcheck != nil && len(img.Healthcheck.Test) > 1 && img.Healthcheck.Test[0] == "CMD":
		argv = img.Healthcheck.Test[1:]
	}
	if img.Healthcheck != nil && o.HealthCmd == "" {
		h := img.Healthcheck
		interval, timeout, start = cmpDur(h.Interval, interval), cmpDur(h.Timeout, timeout), cmpDur(h.StartPeriod, start)
		if h.Retries > 0 {
			retries = h.Retries
		}
	}
	if argv == nil {
		select { // no health check: running is enough
		case <-svc.done:
			return fmt.Errorf("service %s exited: %v", svc.id, svc.err)
		default:
			return nil
		}
	}
	j.sink.StepLog(setupStep, fmt.Sprintf("Waiting for service %s to be healthy (%s, every %s, %d retries)", svc.id, strings.Join(argv, " "), interval, retries))
	began := time.Now()
	failures := 0
	var last string
	// The first check runs at once (Docker's waits an interval; a ready
	// service is then found sooner), the next ones every interval.
	for {
		out := newTailBuffer(4 << 10)
		cctx, cancel := context.WithTimeout(ctx, timeout)
		res, err := svc.ctr.Client.Exec(cctx, agent.ExecRequest{Argv: argv, Env: env, Dir: wd}, out)
		timedOut := cctx.Err() != nil && ctx.Err() == nil
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil && !timedOut:
			return err
		case err == nil && res.ExitCode == 0:
			j.sink.StepLog(setupStep, fmt.Sprintf("service %s is healthy (%.1fs after its start)", svc.id, time.Since(began).Seconds()))
			return nil
		case timedOut:
			last = fmt.Sprintf("the health check timed out after %s", timeout)
		default:
			last = fmt.Sprintf("the health check exited with %d: %s", res.ExitCode, strings.TrimSpace(out.String()))
		}
		if time.Since(began) >= start {
			failures++
		}
		if failures >= retries {
			return fmt.Errorf("service %s never became healthy: %s", svc.id, last)
		}
		select {
		case <-svc.done:
			return fmt.Errorf("service %s never became healthy: %v", svc.id, svc.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

func cmpDur(a, b time.Duration) time.Duration {
	if a > 0 {
		return a
	}
	return b
}

// logServiceOutput writes a service's recent output to step idx's log.
func (j *Job) logServiceOutput(idx int, svc *service) {
	out := strings.TrimRight(svc.logs.String(), "\n")
	if out == "" {
		return
	}
	j.sink.StepLog(idx, fmt.Sprintf("##[group]Service %s output", svc.id))
	for _, line := range strings.Split(out, "\n") {
		j.sink.StepLog(idx, j.Masker.Mask(line))
	}
	j.sink.StepLog(idx, "##[endgroup]")
}

// servicesContext is job.services: per label its id, network and ports.
func (j *Job) servicesContext() *expr.Object {
	o := expr.NewObject()
	if j.ctrs == nil {
		return o
	}
	for _, s := range j.ctrs.services {
		so := expr.NewObject()
		so.Set("id", expr.StringValue(s.id))
		so.Set("network", expr.StringValue("job"))
		ports := expr.NewObject()
		for c, h := range s.ports {
			ports.Set(c, expr.StringValue(h))
		}
		so.Set("ports", expr.ObjectValue(ports))
		o.Set(s.id, expr.ObjectValue(so))
	}
	return o
}

// startJobContainer starts the job container and makes the job run in it.
func (j *Job) startJobContainer(ctx context.Context, c *workflow.Container, hosts []string) error {
	opts, err := workflow.ParseOptions(c.Options)
	if err != nil {
		return fmt.Errorf("container: %w", err)
	}
	portMaps, err := parsePorts(c.Ports)
	if err != nil {
		return fmt.Errorf("container: %w", err)
	}
	img, err := j.pull(ctx, "container", c.Image, c.Credentials)
	if err != nil {
		return err
	}
	user := img.User
	if opts.User != "" {
		user = opts.User
	}
	uid, gid, err := resolveUser(img.RootFS, user)
	if err != nil {
		return fmt.Errorf("container: %w", err)
	}
	tmpfs, err := volumeDirs(c.Volumes, img.Volumes)
	if err != nil {
		return fmt.Errorf("container: %w", err)
	}
	_, repo, _ := strings.Cut(j.Spec.Event.Repo, "/")
	if repo == "" {
		repo = "repo"
	}
	mounts := []ContainerMount{
		{Source: "workspace", Target: path.Join(ctrWork, repo, repo)},
		{Source: "temp", Target: ctrWork + "/_temp"},
		{Source: "home", Target: ctrHome},
	}
	if j.Guest.Layout.ToolCache != "" {
		mounts = append(mounts, ContainerMount{Source: "toolcache", Target: ctrTool, ReadOnly: true})
	}
	// JavaScript actions run in the job container with the sandbox's node
	// bundle, bound where GitHub's runner binds its own externals' node
	// (the image needs no node and no libc).
	mounts = append(mounts, ContainerMount{Source: "node", Target: ctrNode, ReadOnly: true})
	ctr, err := j.Guest.Containers(ctx, ContainerRequest{Name: "job", RootFS: img.RootFS, UID: uid, GID: gid,
		Mounts: mounts, Tmpfs: tmpfs, Hosts: hosts, Hostname: opts.Hostname})
	if err != nil {
		return fmt.Errorf("container: starting it: %w", err)
	}
	j.ctrs.job = ctr
	if err := forwardPorts(ctx, ctr.Client, portMaps); err != nil {
		return fmt.Errorf("container: %w", err)
	}
	j.ctrs.bash = inImage(img.RootFS, "usr/bin/bash") || inImage(img.RootFS, "bin/bash")
	env := append([]string{}, img.Env...)
	for _, v := range c.Env {
		env = append(env, v.Name+"="+v.Value)
	}
	env = append(env, opts.Env...)
	g := *j.Guest
	g.Client, g.Layout, g.Env = ctr.Client, ctr.Layout, env
	g.Layout.Path = cmpOr(envValue(env, "PATH"), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	g.WorkspaceReady = j.Guest.WorkspaceReady
	j.Guest = &g
	j.sink.StepLog(setupStep, fmt.Sprintf("The job runs in container %s as %d:%d", c.Image, uid, gid))
	return j.relayout()
}

// relayout recomputes what depends on the guest's layout (after the job
// moved into its container).
func (j *Job) relayout() error {
	gh, err := GitHubContext(j.Spec.Event, j.Spec.Job.ID, j.Guest.Layout.Workspace)
	if err != nil {
		return err
	}
	gh.Set("event_path", expr.StringValue(j.Guest.Layout.Temp+"/_github_workflow/event.json"))
	j.github = gh
	j.runnerCx.Set("temp", expr.StringValue(j.Guest.Layout.Temp))
	j.runnerCx.Set("tool_cache", expr.StringValue(j.Guest.Layout.ToolCache))
	j.fileDir = j.Guest.Layout.Temp + "/_runner_file_commands"
	return nil
}

// stopContainers is the "Stop containers" step: each service's output,
// then every container stopped.
func (j *Job) stopContainers(idx int) {
	if j.ctrs == nil {
		return
	}
	started := time.Now()
	j.sink.StepStarted(idx, "Stop containers")
	for _, s := range j.ctrs.services {
		j.logServiceOutput(idx, s)
	}
	j.closeContainers(idx)
	r := StepResult{Name: "Stop containers", Outcome: "success", Conclusion: "success", Started: started, Finished: time.Now()}
	j.sink.StepFinished(idx, r)
	j.result.Steps = append(j.result.Steps, r)
}

// closeContainers stops every container of the job.
func (j *Job) closeContainers(idx int) {
	if j.ctrs == nil {
		return
	}
	var all []*Container
	if j.ctrs.job != nil {
		all = append(all, j.ctrs.job)
	}
	for _, s := range j.ctrs.services {
		all = append(all, s.ctr)
	}
	for _, c := range all {
		if err := c.Close(); err != nil && idx >= 0 {
			j.sink.StepLog(idx, "##[warning]stopping a container: "+err.Error())
		}
	}
	for _, s := range j.ctrs.services {
		<-s.done
	}
	j.ctrs = nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex // guards the fields below
	buf []byte
	max int
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// containerFault turns an infrastructure error of a container's agent into
// a plain error: a container dies of what the job put in it (its memory
// limit, its own processes), which fails the job rather than asking for a
// retry on another sandbox.
func containerFault(err error) error {
	var infra *agent.InfraError
	if errors.As(err, &infra) {
		return fmt.Errorf("the container stopped answering: %v", infra.Err)
	}
	return err
}
