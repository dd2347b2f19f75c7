// Package microvm is the sandbox backend that runs every job in its own QEMU
// microVM (`-M microvm`): one VM per job, destroyed with the job.
//
// # Guest
//
// The VM boots Config.Kernel with an initramfs the backend generates: the
// static hookci-agent (Config.AgentPath) as /init, appended to Config.Initrd
// when one is given (an Initrd carries kernel modules for a modular kernel and
// lists them in /etc/hookci/modules). The agent's init mode
// (cmd/hookci-agent/init_linux.go) mounts Config.RootDisk — an ext4 image,
// attached read-only — as the lower layer of an overlay whose upper layer is a
// tmpfs, switches into it and serves the agent protocol on a virtio-serial
// port named "hookci.agent", which QEMU binds to a unix socket on the host
// (this machine's kernel has no vhost-vsock). The serial console goes to a log
// file whose tail is quoted in every infrastructure error.
//
// # Devices
//
// No network device at all unless Spec.Network: then QEMU user networking
// (slirp, guest 10.0.2.15/24, gateway 10.0.2.2 which is the host's loopback,
// DNS 10.0.2.3). Spec.ToolCache is shared read-only through virtio-9p (tag
// "hookci-toolcache") at /opt/hostedtoolcache: no image to build per job and
// nothing to go stale, at the price of 9p's slower reads. A virtio-rng device
// feeds the guest's entropy pool.
//
// # Layout inside the guest
//
//	workspace  /home/runner/work/w
//	temp       /home/runner/work/_temp
//	home       /home/runner
//	tool cache /opt/hostedtoolcache (only with Spec.ToolCache)
//
// The workspace arrives either through the agent protocol (PutFiles of a
// tar) or, faster, as an ext4 scratch disk: MakeWorkspaceDisk (mkfs.ext4 -d,
// sparse, WorkspaceDiskBytes) and StartWith(..., StartOptions{WorkspaceDisk}),
// mounted at the workspace. Measured with a 60 MiB, 5149-file tree under TCG:
// tar through PutFiles 20.4 s; mkfs.ext4 -d 0.37 s plus a template start with
// the disk 0.41 s (guest work is what TCG makes slow: the tar path makes the
// guest untar every byte, the disk path reads only what the job touches).
//
// # Accelerator
//
// Config.Accel "auto" uses KVM only if a guest really boots under it: the
// first Start tries once and caches the verdict in WorkDir/accel.json. On a
// host whose /dev/kvm cannot run a stock guest (nested PVM) it falls back to
// TCG with a logged warning. Accel reports the choice.
//
// # Templates
//
// With Config.Template, the first job of a given shape (CPUs, memory,
// network, workspace disk or not; never with a tool cache) cold-boots a
// template VM whose RAM is a shared file mapping, waits for its agent, has
// it do what a job's set-up and first step do and then remove all of it
// (warm.go: clones wake with a warm page cache; measured under TCG, a
// clone's first `run:` step 390 → 190 ms), detaches (and waits until the
// guest agent logged the end of the session),
// and saves the device state with a QEMU migration to a file
// (`migrate exec:cat > state`) using the x-ignore-shared capability: the RAM
// is already in the file. Every later job of that shape starts QEMU with
// -incoming defer, the same RAM file mapped private (copy-on-write) and
// migrate-incoming from that state, so clones share the template's pages in
// the host page cache. Each clone has its own sockets: QEMU's socket chardev
// starts disconnected, the host's connection raises the virtio-serial
// port-open event, and the agent's serial handshake (HELLO/READY/START/GO)
// starts a fresh session. A template with a workspace disk has a sparse
// placeholder of the same size; the clone gets the job's image instead and
// the guest mounts it only when asked (after flushing the block cache).
// After every start the host writes /run/hookci/resync (its clock, fresh
// random bytes, optionally "mount-work"); the guest init sets the clock,
// credits the bytes to the kernel RNG and forces a CRNG reseed (a clone wakes
// up with the template's clock and RNG state), then acknowledges. A failed
// restore falls back to a cold boot and the template is rebuilt.
//
// # Memory under TCG
//
// Each QEMU gets a 16 MiB translation cache (tb-size=16): measured idle clone
// PSS 42 MiB with 16 (3 clones; USS, the cost of one more clone, 30 MiB)
// against 53 MiB with 64; 8 MiB gave 37 MiB but slowed template starts by
// half again. Under KVM there is no translation cache.
//
// # Files
//
// Everything lives under Config.WorkDir: vms/<id>/ (pid file, agent and QMP
// sockets, console log) and templates/<key>/ (RAM file, device state), plus
// the generated initramfs and accel.json (the cached KVM verdict). Close
// removes a VM's directory after killing QEMU; if QEMU had died on its own,
// its console and output are first kept in crashed/<id>-<time>.log. Reap
// removes whatever a crashed earlier process left (it kills a QEMU only if
// its pid file's process still has that directory on its command line).
package microvm
