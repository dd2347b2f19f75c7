package runner

import (
	"context"
	"fmt"
	"strings"

	"github.com/hookci/hookci/internal/oci"
	"github.com/hookci/hookci/internal/workflow"
)

// ImageBuilder returns the image built from base by apply, cached on this
// host under key (64 hex digits: the caller's hash of everything the build
// depends on, the scope it may be shared in included), so that a second
// build with the same key does not call apply. apply gets a private,
// writable copy of base's root filesystem (a host directory) and the
// image's configuration to change (the fields of img other than RootFS).
// cached reports a cache hit.
type ImageBuilder func(ctx context.Context, key string, base *Image, apply func(rootfs string, img *Image) error) (built *Image, cached bool, err error)

// OCIImages adapts an image store to the runner: the source of services,
// container:, docker:// steps and Docker actions' images, and the builder
// of Dockerfile actions' images. The source refuses a reference to an
// image built on this host (oci.BuiltPrefix): such an image is reached only
// through the builder, by a job whose build has its key, never by a name
// a workflow writes (which would let a job run another repository's built
// image, with the files of that repository's action in it).
func OCIImages(st *oci.Store) (ImageSource, ImageBuilder) {
	source := func(ctx context.Context, ref string, creds *workflow.Credentials) (*Image, error) {
		if strings.HasPrefix(ref, oci.BuiltPrefix) {
			return nil, fmt.Errorf("image %s: %s names images built on this host for Dockerfile actions; a workflow cannot use them by name", ref, strings.TrimSuffix(oci.BuiltPrefix, "/"))
		}
		var c *oci.Credentials
		if creds != nil {
			c = &oci.Credentials{Username: creds.Username, Password: creds.Password}
		}
		img, err := st.Pull(ctx, ref, c)
		if err != nil {
			return nil, err
		}
		return fromOCI(img), nil
	}
	builder := func(ctx context.Context, key string, base *Image, apply func(string, *Image) error) (*Image, bool, error) {
		platform := base.OS + "/" + base.Arch
		ob := &oci.Image{Ref: base.Ref, Digest: base.Digest, Platform: platform, RootFS: base.RootFS, Config: toOCIConfig(base)}
		ran := false
		img, err := st.Build(ctx, key, ob, func(rootfs string, cfg *oci.ImageConfig) error {
			ran = true
			ri := fromOCI(&oci.Image{Ref: base.Ref, Platform: platform, RootFS: rootfs, Config: *cfg})
			if err := apply(rootfs, ri); err != nil {
				return err
			}
			*cfg = toOCIConfig(ri)
			return nil
		})
		if err != nil {
			return nil, false, err
		}
		return fromOCI(img), !ran, nil
	}
	return source, builder
}

func fromOCI(img *oci.Image) *Image {
	os, arch, _ := strings.Cut(img.Platform, "/")
	arch, _, _ = strings.Cut(arch, "/") // variant
	out := &Image{Ref: img.Ref, Digest: img.Digest, RootFS: img.RootFS, OS: os, Arch: arch,
		Env: img.Config.Env, User: img.Config.User, WorkingDir: img.Config.WorkingDir,
		Entrypoint: img.Config.Entrypoint, Cmd: img.Config.Cmd, Volumes: img.Config.Volumes,
		Labels: img.Config.Labels, ExposedPorts: img.Config.ExposedPorts, Disk: img.Ext4}
	if h := img.Config.Healthcheck; h != nil {
		out.Healthcheck = &Healthcheck{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, Retries: h.Retries}
	}
	return out
}

func toOCIConfig(img *Image) oci.ImageConfig {
	c := oci.ImageConfig{Env: img.Env, User: img.User, WorkingDir: img.WorkingDir, Entrypoint: img.Entrypoint,
		Cmd: img.Cmd, Volumes: img.Volumes, Labels: img.Labels, ExposedPorts: img.ExposedPorts}
	if h := img.Healthcheck; h != nil {
		c.Healthcheck = &oci.Healthcheck{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, Retries: h.Retries}
	}
	return c
}

// ResolveUser turns a Docker user ("name", "uid", "name:group", "uid:gid",
// "" = root) into numeric ids, read from the image's /etc/passwd and
// /etc/group at rootfs.
func ResolveUser(rootfs, user string) (uid, gid int, err error) { return resolveUser(rootfs, user) }

// CheckPlatform fails for an image this runner cannot run.
func CheckPlatform(img *Image) error { return checkPlatform(img) }
