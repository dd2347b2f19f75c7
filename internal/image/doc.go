// Package image owns the guest image that every VM-like sandbox boots: a Linux
// kernel, a Debian root filesystem with hookci-agent installed, and the ext4
// disk image made from that root. Images are built from Debian packages (the
// kernel from linux-source-6.1 with the configuration fragment kept in
// kernel/config-fragment, or Debian's stock kernel with a small initramfs; the
// root by debootstrap) and cached under DATA_DIR/image.
//
// The cache has three layers, each keyed by the hash of only what goes into it,
// so that a new agent binary costs seconds rather than a kernel build:
//
//	DATA_DIR/image/kernel/<kernel-key>/   vmlinux (minimal) or vmlinuz+initrd.img (debian)
//	DATA_DIR/image/base/<base-key>/rootfs debootstrap output, configured and trimmed
//	DATA_DIR/image/<recipe-hash>/         the image: rootfs/ (base + agent, hard links),
//	                                      root.ext4, kernel, initrd, image.json
//
// Every layer is built in a staging directory under DATA_DIR/image/tmp and
// renamed into place while holding an exclusive flock on
// DATA_DIR/image/locks/<layer>-<key>.lock, so concurrent builders of the same
// image wait for each other instead of corrupting the cache. Downloaded .debs
// are kept in DATA_DIR/image/debs. DATA_DIR/image/current is a symlink to the
// image `hookci image build` made last (SetCurrent, Latest); Prune removes
// older images and unused layers.
//
// BootCheck boots an image under QEMU's microvm machine to its first user
// process: `hookci doctor` uses it to tell a KVM that really runs guests from
// one that does not (nested PVM), and the tests use it to prove an image works.
package image
