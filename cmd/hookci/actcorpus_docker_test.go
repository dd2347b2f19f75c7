package main

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/oci/ocitest"
	"github.com/hookci/hookci/internal/sandbox/backends"
)

// Rows of act's runner suite that need containers run on the namespace
// backend with ocitest's stand-ins of the images they name (built from
// Debian packages, tagged like the official images, served by a registry
// on loopback that mirrors docker.io): see ocitest.ActStandIns. A
// Dockerfile action is built by hookci from its FROM stand-in (a Dockerfile
// a step writes at run time included); a row that names another image, or
// whose action's Dockerfile the corpus does not carry (it keeps data files
// only), stays excluded.

var (
	actImageRef  = regexp.MustCompile(`(?m)^[ \t]*(?:-[ \t]*)?(?:image|container):[ \t]*['"]?([A-Za-z0-9][^\s'"]*)`)
	actDockerURL = regexp.MustCompile(`docker://([^\s'"]+)`)
	actLocalUses = regexp.MustCompile(`uses:[ \t]*['"]?(\./[^\s'"]+)`)
	// A Dockerfile's base image, in a Dockerfile or a step that writes one.
	actFrom = regexp.MustCompile(`(?m)^[ \t]*FROM[ \t]+([A-Za-z0-9][^\s'"]*)`)
	// A volumes: entry whose source is a host path ("/host:/in").
	actHostVolume = regexp.MustCompile(`(?m)^[ \t]*-[ \t]*['"]?/[^\s:'"]*:/`)
)

// actDockerImages returns the Docker Hub repositories:tags a row's
// workflows and their local actions pull, or why the row cannot run
// offline (an image without a stand-in, a Dockerfile to build).
func actDockerImages(corpusRoot, root string, r actRow) ([]string, string) {
	files, _ := filepath.Glob(filepath.Join(corpusRoot, r.dir, "*.y*ml"))
	seen := map[string]bool{}
	var refs []string
	for i := 0; i < len(files) && i < 50; i++ {
		b, err := os.ReadFile(files[i])
		if err != nil {
			continue
		}
		src := string(b)
		if actHostVolume.MatchString(src) {
			return nil, "a host path as a volume: refused by design (the host's directories are outside the job's sandbox)"
		}
		for _, m := range actLocalUses.FindAllStringSubmatch(src, -1) {
			for _, name := range []string{"action.yml", "action.yaml"} {
				if p := filepath.Join(root, m[1], name); !seen[p] {
					if _, err := os.Stat(p); err == nil {
						seen[p] = true
						files = append(files, p)
					}
				}
			}
		}
		for _, m := range actImageRef.FindAllStringSubmatch(src, -1) {
			if m[1] == "Dockerfile" || strings.HasSuffix(m[1], "/Dockerfile") {
				df, err := os.ReadFile(filepath.Join(filepath.Dir(files[i]), m[1]))
				if err != nil {
					return nil, "a Dockerfile action whose Dockerfile the corpus does not carry (it keeps data files only)"
				}
				for _, f := range actFrom.FindAllStringSubmatch(string(df), -1) {
					refs = append(refs, f[1])
				}
				continue
			}
			refs = append(refs, strings.TrimPrefix(m[1], "docker://"))
		}
		for _, m := range actFrom.FindAllStringSubmatch(src, -1) { // a Dockerfile written by a step
			refs = append(refs, m[1])
		}
		for _, m := range actDockerURL.FindAllStringSubmatch(src, -1) {
			refs = append(refs, m[1])
		}
	}
	var out []string
	for _, ref := range refs {
		if !strings.Contains(ref, "/") {
			ref = "library/" + ref
		}
		if !strings.Contains(ref[strings.LastIndex(ref, "/"):], ":") {
			ref += ":latest"
		}
		if _, ok := ocitest.ActStandIns[ref]; !ok {
			return nil, "needs Docker: no offline stand-in for " + ref
		}
		if !seen[ref] {
			seen[ref] = true
			out = append(out, ref)
		}
	}
	if len(out) == 0 {
		return nil, "needs Docker: no image found to stand in"
	}
	sort.Strings(out)
	return out, ""
}

// actContainers starts, once per test, the registry with the stand-ins
// and returns the configuration edit that runs a row on the namespace
// backend with it, or why rows with containers cannot run here (which
// fails the test under CI=true).
type actContainers struct {
	once sync.Once
	edit func(*config.Config)
	why  string
}

func (a *actContainers) get(t *testing.T) (func(*config.Config), string) {
	a.once.Do(func() {
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		cfg.ImageDir = os.Getenv("HOOKCI_DATA_DIR")
		cfg.AgentPath = agenttest.Binary(t)
		if err := backends.Available(cfg, "namespace"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("act rows with containers need the namespace sandbox under CI: %v", err)
			}
			a.why = "needs the namespace sandbox: " + err.Error()
			return
		}
		reg := ocitest.Registry(t)
		ocitest.PushActImages(t, reg)
		imageDir := cfg.ImageDir
		a.edit = func(c *config.Config) {
			c.Sandbox = "namespace"
			c.ImageDir = imageDir
			c.Registries = reg.Mirror()
		}
	})
	return a.edit, a.why
}
