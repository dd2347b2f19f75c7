package dispatch

import (
	"context"

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
