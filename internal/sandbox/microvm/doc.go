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
// The workspace itself arrives through the agent protocol (PutFiles).
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
// network; no tool cache) cold-boots a template VM whose RAM is a shared file
// mapping, waits for its agent, detaches, and saves the device state with a
// QEMU migration to a file using the x-ignore-shared capability (the RAM is
// already in the file). Every later job of that shape starts QEMU with
// -incoming from that state and the same RAM file mapped private
// (copy-on-write), so clones share the template's pages in the host page
// cache. Each clone has its own sockets; the guest agent notices the new host
// connection through the virtio-serial port-open event and the serial
// handshake. After every start the host writes /run/hookci/resync (its clock
// and fresh random bytes) and the guest init sets the clock and reseeds the
// kernel CRNG, since a clone wakes up with the template's clock and RNG.
//
// # Files
//
// Everything lives under Config.WorkDir: vms/<id>/ (pid file, agent and QMP
// sockets, console log) and templates/<key>/ (RAM file, device state), plus
// the generated initramfs. Close removes a VM's directory after killing QEMU;
// Reap removes whatever a crashed earlier process left.
package microvm
