package dispatch

import (
	"context"
	"fmt"

	"github.com/hookci/hookci/internal/expr"
	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/sandbox"
)

// containerStarter adapts a sandbox's container support to the runner's
// (nil when the backend has none).
func containerStarter(inst *sandbox.Instance) runner.ContainerStarter {
	if inst.Containers == nil {
		return nil
	}
	return func(ctx context.Context, r runner.ContainerRequest) (*runner.Container, error) {
		spec := sandbox.ContainerSpec{Name: r.Name, RootFS: r.RootFS, UID: r.UID, GID: r.GID, Tmpfs: r.Tmpfs,
			Hosts: r.Hosts, Hostname: r.Hostname}
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

// refuseContainers returns why a job with containers cannot run on the
// chosen backend ("" when it can or has none): containers run inside the
// job's sandbox, which only the namespace backend supports so far.
func (d *Dispatcher) refuseContainers(in *jobInput, env *expr.Env, backend string) string {
	if backend == "namespace" || (in.wj.Container == nil && in.wj.Services == nil) {
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
	return fmt.Sprintf("jobs.%s: container: and services: run only on the namespace sandbox backend so far (this job's runs-on chose %s; map its label to backend = \"namespace\" under [labels] to run it there)", in.wj.ID, backend)
}
