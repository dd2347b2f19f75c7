package runner

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/hookci/hookci/internal/workflow"
)

// hashFiles implements hashFiles(): the SHA-256 over the SHA-256 of every
// regular file in the workspace matched by the patterns (GitHub's filter
// pattern syntax, '!' excludes), in path order; "" when nothing matches.
func (j *Job) hashFiles(patterns []string) (string, error) {
	ctx, cancel := context.WithCancel(j.ctx)
	defer cancel()
	rc, err := j.Guest.Client.GetFiles(ctx, j.Guest.Layout.Workspace)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	var clean []string
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(strings.TrimPrefix(p, "!"), "./")
		if ws := j.Guest.Layout.Workspace + "/"; strings.HasPrefix(p, ws) {
			p = strings.TrimPrefix(p, ws)
		}
		if neg {
			p = "!" + p
		}
		clean = append(clean, p)
	}
	type entry struct {
		name string
		sum  [32]byte
	}
	var matched []entry
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("hashFiles: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(path.Clean(h.Name), "./")
		ok, err := workflow.MatchFilter(clean, name)
		if err != nil {
			return "", fmt.Errorf("hashFiles: %w", err)
		}
		if !ok {
			continue
		}
		hs := sha256.New()
		if _, err := io.Copy(hs, tr); err != nil {
			return "", fmt.Errorf("hashFiles: %w", err)
		}
		var e entry
		e.name = name
		copy(e.sum[:], hs.Sum(nil))
		matched = append(matched, e)
	}
	if len(matched) == 0 {
		return "", nil
	}
	sort.Slice(matched, func(a, b int) bool { return matched[a].name < matched[b].name })
	all := sha256.New()
	for _, e := range matched {
		all.Write(e.sum[:])
	}
	return hex.EncodeToString(all.Sum(nil)), nil
}
