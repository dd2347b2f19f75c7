// Package oci owns container images: pulling them by reference from any
// registry that speaks the OCI distribution API (with [registries] mirrors
// and credentials), a content-addressed layer cache under DATA_DIR/oci,
// unpacking layers safely into one read-only root filesystem per image
// digest, and an ext4 image of that root for the microVM. It never runs an
// image: the sandbox and runner packages do.
//
// Layout under DATA_DIR/oci (directory mode 0700: an image may hold setuid
// files, which no host user may reach):
//
//	blobs/sha256/<hex>     compressed layers, verified against their digest
//	images/<hex>/          one per image manifest digest: image.json (the
//	                       Image), rootfs/ (unpacked), disk.ext4 (built on demand)
//	refs/<sha of ref>      the last digest a reference resolved to
//	locks/, tmp/           flocks and staging directories
package oci
