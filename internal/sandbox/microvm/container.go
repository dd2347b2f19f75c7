package microvm

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
)

// Containers in a microVM. QEMU's microvm machine cannot hot-plug a disk
// (its virtio-mmio buses refuse device_add: "Bus 'virtio-mmio-bus.N' does
// not support hotplugging", QEMU 7.2), so a job's container images are
// attached when the VM starts: StartOptions.Images, one read-only
// virtio-blk disk per image (the ext4 image internal/oci builds once per
// digest), with serial "hookci-img-<i>". The guest agent, root in the VM,
// starts each container as a second agent in its own mount, pid, uts and
// ipc namespaces on an overlay of that disk (mounted nosuid,nodev) and a
// tmpfs, sharing the VM's network; the host reaches it through a stream of
// the job agent's connection (agent.Client.DialContainer). See
// internal/agent/container_init_linux.go.

// ImageDisk is a container image to attach to a microVM: RootFS is the
// unpacked root filesystem on the host (what sandbox.ContainerSpec.RootFS
// names) and Disk an ext4 image of it (oci.Image.Ext4).
type ImageDisk struct {
	RootFS string
	Disk   string
}

// maxImages bounds the disks of one VM (the microvm machine has 24
// virtio-mmio transports, shared with the other devices).
const maxImages = 12

// imageSerial is the virtio serial of the i-th image disk.
func imageSerial(i int) string { return fmt.Sprintf("hookci-img-%d", i) }

// checkImages validates the images and returns their disks' paths.
func checkImages(imgs []ImageDisk) ([]string, error) {
	if len(imgs) > maxImages {
		return nil, fmt.Errorf("%d container images: at most %d fit in one VM", len(imgs), maxImages)
	}
	var disks []string
	for _, img := range imgs {
		if img.RootFS == "" {
			return nil, errors.New("container image without a root filesystem")
		}
		if err := isFile(img.Disk); err != nil {
			return nil, fmt.Errorf("container image disk: %w", err)
		}
		disks = append(disks, img.Disk)
	}
	return disks, nil
}

// imageDisks builds (or finds cached) the disks of a spec's container images.
func imageDisks(ctx context.Context, imgs []sandbox.ContainerImage) ([]ImageDisk, error) {
	var out []ImageDisk
	for _, img := range imgs {
		if img.Disk == nil {
			continue
		}
		d, err := img.Disk(ctx)
		if err != nil {
			return nil, fmt.Errorf("container image disk: %w", err)
		}
		out = append(out, ImageDisk{RootFS: img.RootFS, Disk: d})
	}
	return out, nil
}

// imageDiskArgs are QEMU's arguments attaching the image disks read-only.
func imageDiskArgs(disks []string) []string {
	var args []string
	for i, d := range disks {
		args = append(args,
			"-drive", fmt.Sprintf("id=img%d,file=%s,format=raw,if=none,readonly=on", i, optPath(d)),
			"-device", fmt.Sprintf("virtio-blk-device,drive=img%d,serial=%s", i, imageSerial(i)))
	}
	return args
}

// containerStarter returns the sandbox's ContainerStarter: job is the job
// agent's client, layout where the job's directories are in the guest,
// nodeBundle the guest's node bundle ("" none).
func containerStarter(job *agent.Client, layout agent.Layout, imgs []ImageDisk, nodeBundle string) sandbox.ContainerStarter {
	serials := map[string]string{}
	for i, img := range imgs {
		serials[img.RootFS] = imageSerial(i)
	}
	return func(ctx context.Context, cs sandbox.ContainerSpec) (*sandbox.Instance, error) {
		if err := cs.Validate(); err != nil {
			return nil, err
		}
		serial, ok := serials[cs.RootFS]
		if !ok {
			return nil, fmt.Errorf("container %s: its image (%s) was not attached when the microVM started: a microVM gets its container images as disks at start (QEMU's microvm machine cannot hot-plug one)", cs.Name, cs.RootFS)
		}
		host := cs.Hostname
		if host == "" {
			host = cs.Name
		}
		hosts := "127.0.0.1\tlocalhost " + host + "\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		if len(cs.Hosts) > 0 {
			hosts += "127.0.0.1\t" + strings.Join(cs.Hosts, " ") + "\n"
		}
		req := agent.ContainerStart{Name: cs.Name, DiskSerial: serial, UID: cs.UID, GID: cs.GID,
			Tmpfs: cs.Tmpfs, Hosts: hosts, Hostname: host}
		var l agent.Layout
		for _, m := range cs.Mounts {
			var src string
			switch m.Source {
			case "workspace":
				src, l.Workspace = layout.Workspace, m.Target
			case "temp":
				src, l.Temp = layout.Temp, m.Target
			case "home":
				src, l.Home = layout.Home, m.Target
			case "toolcache":
				if layout.ToolCache == "" {
					continue
				}
				src, l.ToolCache = layout.ToolCache, m.Target
				m.ReadOnly = true
			case "node":
				// The guest image's self-contained bundle of its node
				// (Debian's, whose libnode, ICU, OpenSSL… an image need not
				// have, bundled with them and its own glibc loader).
				if nodeBundle == "" {
					l.NoNode = "its guest image has no node bundle (an image built before bundles were: rebuild it with hookci image build)"
					continue
				}
				src, l.Node = nodeBundle, path.Join(m.Target, "bin", "node")
				m.ReadOnly = true
			}
			req.Binds = append(req.Binds, agent.ContainerBind{Source: src, Target: m.Target, ReadOnly: m.ReadOnly})
		}
		if err := job.StartContainer(ctx, req); err != nil {
			return nil, err
		}
		stop := func() error {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			defer cancel()
			return job.StopContainer(ctx, cs.Name)
		}
		conn, err := job.DialContainer(ctx, cs.Name)
		if err != nil {
			stop()
			return nil, err
		}
		c, err := agent.NewClient(conn)
		if err != nil {
			stop()
			return nil, err
		}
		if _, err := c.Info(ctx); err != nil {
			c.Close()
			stop()
			return nil, fmt.Errorf("container %s: agent did not answer: %w", cs.Name, err)
		}
		return sandbox.NewInstance(c, l, "microvm", stop), nil
	}
}
