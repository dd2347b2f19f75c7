package runner

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/workflow"
)

// TestContainerVolumeCopyUpEndToEnd (issue 12): through the runner, a job
// container whose image (the host's /usr, a small /etc) declares a VOLUME
// whose directory is 0700 and owned by its service user (999, holding a
// seed file), and a `volumes:` entry of a root-owned image directory,
// starts as root and finds both copied with the image's owners, modes and
// contents; its steps read the seed, write it after switching to 999, and
// as 999 may not write the root-owned copy.
func TestContainerVolumeCopyUpEndToEnd(t *testing.T) {
	guestRootFS(t)
	root := t.TempDir()
	for d := root; d != "/"; d = filepath.Dir(d) {
		if strings.HasPrefix(d, os.TempDir()+"/") {
			os.Chmod(d, 0o755)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"usr", "etc", "tmp", "var/lib/app/data", "srv/conf"} {
		must(os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
		must(os.Symlink("usr/"+l, filepath.Join(root, l)))
	}
	for p, c := range map[string]string{
		"etc/passwd":            "root:x:0:0:root:/root:/bin/sh\napp:x:999:999:app:/var/lib/app:/bin/sh\n",
		"etc/group":             "root:x:0:\napp:x:999:\n",
		"var/lib/app/data/seed": "seeded by the image\n",
		"srv/conf/app.conf":     "conf of the image\n",
	} {
		must(os.WriteFile(filepath.Join(root, p), []byte(c), 0o644))
	}
	data := filepath.Join(root, "var/lib/app/data")
	must(os.Chown(data, 999, 999))
	must(os.Chmod(data, 0o700))
	must(os.Chown(filepath.Join(data, "seed"), 999, 999))
	must(os.Chmod(filepath.Join(data, "seed"), 0o600))
	usr := filepath.Join(root, "usr")
	if out, err := exec.Command("mount", "--bind", "-o", "ro", "/usr", usr).CombinedOutput(); err != nil {
		t.Fatalf("mount --bind /usr: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", usr).Run() })
	images := func(ctx context.Context, ref string, _ *workflow.Credentials) (*Image, error) {
		if ref != "app:1" {
			return nil, errors.New("manifest unknown: " + ref)
		}
		return &Image{Ref: ref, Digest: "sha256:test", RootFS: root, OS: "linux", Arch: "amd64",
			Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin"}, Volumes: []string{"/var/lib/app/data"}}, nil
	}
	const wf = `
on: push
jobs:
  boxed:
    runs-on: ubuntu-latest
    container:
      image: app:1
      volumes: ["/srv/conf"]
    steps:
      - run: |
          stat -c 'owner %u:%g %a %n' /var/lib/app/data /var/lib/app/data/seed /srv/conf /srv/conf/app.conf
          echo "read: $(cat /var/lib/app/data/seed)"
          setpriv --reuid=999 --regid=999 --clear-groups sh -c 'echo more >> /var/lib/app/data/seed && echo "999 wrote: $(wc -l < /var/lib/app/data/seed) lines"'
          setpriv --reuid=999 --regid=999 --clear-groups sh -c 'echo x >> /srv/conf/app.conf' 2>/dev/null && echo "999 wrote conf" || echo "999 refused conf"
`
	res, rec := runWithImages(t, wf, "boxed", images)
	out := rec.all()
	if res.Conclusion != "success" {
		t.Fatalf("got %s, want success:\n%s", res.Conclusion, out)
	}
	for _, want := range []string{
		"owner 999:999 700 /var/lib/app/data", "owner 999:999 600 /var/lib/app/data/seed",
		"owner 0:0 755 /srv/conf", "owner 0:0 644 /srv/conf/app.conf",
		"read: seeded by the image", "999 wrote: 2 lines", "999 refused conf",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}
