package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/hookci/hookci/internal/expr"
	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/workflow"
)

// containerStarter adapts a sandbox's container support to the runner's
// (nil when the backend has none).
func containerStarter(inst *sandbox.Instance) runner.ContainerStarter {
	if inst.Containers == nil {
		return nil
	}
	return func(ctx context.Context, r runner.ContainerRequest) (*runner.Container, error) {
		spec := sandbox.ContainerSpec{Name: r.Name, RootFS: r.RootFS, UID: r.UID, GID: r.GID, Tmpfs: r.Tmpfs,
			Hosts: r.Hosts, Hostname: r.Hostname, Writable: r.Writable}
		for _, m := range r.Mounts {
			spec.Mounts = append(spec.Mounts, sandbox.ContainerMount{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
		}
		c, err := inst.Containers(ctx, spec)
		if err != nil {
			return nil, err
		}
		return &runner.Container{Client: c.Client, Layout: c.Layout, Close: c.Close}, nil
	}
}

// containerBackends implement Instance.Containers. host has no sandbox to
// put a container in; firecracker has no container support (its guests
// would need the microVM's image disks and agent streams; not built).
var containerBackends = map[string]bool{"namespace": true, "microvm": true}

// refuseContainers returns why a job with containers cannot run on the
// chosen backend ("" when it can or has none): containers run inside the
// job's sandbox, which only the namespace and microvm backends support.
func (d *Dispatcher) refuseContainers(in *jobInput, env *expr.Env, backend string) string {
	if containerBackends[backend] || (in.wj.Container == nil && in.wj.Services == nil) {
		return ""
	}
	c, err := in.wj.EvalContainer(env)
	if err != nil {
		return "jobs." + in.wj.ID + "." + err.Error()
	}
	s, err := in.wj.EvalServices(env)
	if err != nil {
		return "jobs." + in.wj.ID + "." + err.Error()
	}
	if c == nil && len(s) == 0 {
		return ""
	}
	return fmt.Sprintf("jobs.%s: container: and services: run only on the namespace and microvm sandbox backends (this job's runs-on chose %s; map its label to backend = \"namespace\" or \"microvm\" under [labels] to run it there)", in.wj.ID, backend)
}

// actionImages lists the container images the uses: steps of a job run
// (docker:// steps and Docker actions, also inside composite actions);
// actions.Executor implements it. readLocal reads a file of the job's
// commit.
type actionImages interface {
	DockerImages(ctx context.Context, uses []string, readLocal func(ctx context.Context, name string) ([]byte, error)) []string
}

// attachImages pulls, for the microvm backend, the images the job is known
// to need before its sandbox starts (container:, services:, docker://
// steps, the prebuilt images of its Docker actions) into in.images: a microVM gets them as disks at start, since QEMU's
// microvm machine cannot hot-plug a disk later. A failure here is only
// logged: the runner pulls again and reports it to the job with its
// reason. Images known only once the job runs (a reference that is an
// expression, a private remote action's image) are not attached, and the
// runner's container start then fails naming why.
func (d *Dispatcher) attachImages(ctx context.Context, in *jobInput, env *expr.Env, backend string, log *slog.Logger) {
	in.images = nil
	if backend != "microvm" || d.cfg.Images == nil {
		return
	}
	type want struct {
		ref   string
		creds *workflow.Credentials
	}
	var refs []want
	if c, err := in.wj.EvalContainer(env); err == nil && c != nil {
		refs = append(refs, want{c.Image, c.Credentials})
	}
	if svcs, err := in.wj.EvalServices(env); err == nil {
		for _, s := range svcs {
			refs = append(refs, want{s.Image, s.Credentials})
		}
	}
	var uses []string
	for _, st := range in.wj.Steps {
		if ref, ok := strings.CutPrefix(st.Uses, "docker://"); ok && !strings.Contains(ref, "${{") {
			refs = append(refs, want{ref, nil})
		} else if st.Uses != "" {
			uses = append(uses, st.Uses)
		}
	}
	if ai, ok := d.cfg.Actions.(actionImages); ok && len(uses) > 0 {
		mirror, sha := in.mirror, in.run.SHA
		read := func(ctx context.Context, name string) ([]byte, error) {
			if mirror == nil {
				return nil, fmt.Errorf("%s: %w", name, os.ErrNotExist)
			}
			return mirror.ReadFile(ctx, sha, name)
		}
		for _, ref := range ai.DockerImages(ctx, uses, read) {
			refs = append(refs, want{ref, nil})
		}
	}
	seen := map[string]bool{}
	for _, w := range refs {
		if w.ref == "" {
			continue
		}
		img, err := d.cfg.Images(ctx, w.ref, w.creds)
		if err != nil {
			log.Warn("container image not attached to the microVM", "image", w.ref, "err", err)
			continue
		}
		if img.Disk == nil || seen[img.RootFS] {
			continue
		}
		seen[img.RootFS] = true
		in.images = append(in.images, sandbox.ContainerImage{RootFS: img.RootFS, Disk: img.Disk})
	}
}
