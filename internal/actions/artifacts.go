package actions

import (
	"archive/tar"
	"archive/zip"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/artifact"
	"github.com/hookci/hookci/internal/runner"
)

// The native actions/upload-artifact@v4 and download-artifact@v4: artifacts
// are zips kept per run by the artifact.Store.

func (r *Executor) uploadArtifact(ctx context.Context, j *runner.Job, idx, major int, with, env map[string]string) (runner.StepOutcome, error) {
	name := cmp.Or(strings.TrimSpace(with["name"]), "artifact")
	if err := artifact.ValidName(name); err != nil {
		return runner.StepOutcome{}, err
	}
	var include, exclude []string
	for _, p := range lines(with["path"]) {
		if strings.HasPrefix(p, "!") {
			exclude = append(exclude, p[1:])
		} else {
			include = append(include, p)
		}
	}
	if len(include) == 0 {
		return runner.StepOutcome{}, errors.New("Input required and not supplied: path")
	}
	hidden := boolInput(with, "include-hidden-files", false)
	files, err := expand(ctx, j, include, hidden)
	if err != nil {
		return runner.StepOutcome{}, err
	}
	excluded, err := expand(ctx, j, exclude, true)
	if err != nil {
		return runner.StepOutcome{}, err
	}
	if len(files) == 0 {
		msg := "No files were found with the provided path: " + strings.Join(lines(with["path"]), "\n") + ". No artifacts will be uploaded."
		switch strings.ToLower(cmp.Or(with["if-no-files-found"], "warn")) {
		case "error":
			return runner.StepOutcome{}, errors.New(msg)
		case "ignore":
			j.Log(idx, msg)
		default:
			j.Log(idx, "##[warning]"+msg)
		}
		return runner.StepOutcome{}, nil
	}
	level := 6
	if v, err := strconv.Atoi(strings.TrimSpace(with["compression-level"])); err == nil && v >= 0 && v <= 9 {
		level = v
	}
	root := searchRoot(j, include)
	dirs, err := isDirs(ctx, j, files)
	if err != nil {
		return runner.StepOutcome{}, err
	}
	a := &artifact.Artifact{RunID: j.Spec.Event.RunID, Repo: j.Spec.Event.Repo, Name: name}
	if d, err := strconv.Atoi(strings.TrimSpace(with["retention-days"])); err == nil && d > 0 {
		a.Expires = time.Now().AddDate(0, 0, d)
	}
	z := &zipper{j: j, root: root, hidden: hidden, excluded: excluded, level: level, seen: map[string]bool{}}
	err = r.artifacts.Put(ctx, a, boolInput(with, "overwrite", false), func(w io.Writer) (int, string, error) {
		return z.write(ctx, w, files, dirs)
	})
	if err != nil {
		return runner.StepOutcome{}, err
	}
	url := fmt.Sprintf("%s/%s/actions/runs/%d/artifacts/%d", strings.TrimRight(j.Spec.Event.ServerURL, "/"), j.Spec.Event.Repo, a.RunID, a.ID)
	j.Log(idx, fmt.Sprintf("Artifact %s has been successfully uploaded! Final size is %d bytes (%d files). Artifact ID is %d", name, a.Size, a.Files, a.ID))
	return runner.StepOutcome{Outputs: map[string]string{
		"artifact-id": strconv.FormatInt(a.ID, 10), "artifact-url": url, "artifact-digest": strings.TrimPrefix(a.Digest, "sha256:"),
	}}, nil
}

// searchRoot is the least common ancestor of the search paths (each
// pattern's part before its first wildcard; a plain file's directory).
func searchRoot(j *runner.Job, patterns []string) string {
	var root string
	for i, p := range patterns {
		abs := absPath(j, p)
		if k := strings.IndexAny(abs, "*?["); k >= 0 {
			abs = path.Dir(abs[:k+1])
		}
		if i == 0 {
			root = abs
			continue
		}
		for root != "/" && abs != root && !strings.HasPrefix(abs, root+"/") {
			root = path.Dir(root)
		}
	}
	return root
}

// zipper writes matched sandbox paths into an artifact zip.
type zipper struct {
	j        *runner.Job
	root     string
	hidden   bool
	excluded []string
	level    int
	seen     map[string]bool
	files    int
}

func (z *zipper) write(ctx context.Context, w io.Writer, paths []string, dirs []bool) (int, string, error) {
	h := sha256.New()
	zw := zip.NewWriter(io.MultiWriter(w, h))
	for i, p := range paths {
		// A single file given as the only path is stored by its base name.
		base := p
		if !dirs[i] {
			base = path.Dir(p)
		}
		if err := z.add(ctx, zw, p, base); err != nil {
			return 0, "", err
		}
	}
	if err := zw.Close(); err != nil {
		return 0, "", err
	}
	return z.files, hex.EncodeToString(h.Sum(nil)), nil
}

func (z *zipper) add(ctx context.Context, zw *zip.Writer, p, base string) error {
	rc, err := z.j.Guest.Client.GetFiles(ctx, p)
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hd, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if hd.Typeflag != tar.TypeReg {
			continue
		}
		abs := path.Join(base, hd.Name)
		rel := strings.TrimPrefix(strings.TrimPrefix(abs, z.root), "/")
		if z.root == abs {
			rel = path.Base(abs)
		}
		if z.seen[rel] || z.skip(abs, rel) {
			continue
		}
		z.seen[rel] = true
		method := zip.Deflate
		if z.level == 0 {
			method = zip.Store
		}
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: rel, Method: method, Modified: hd.ModTime})
		if err != nil {
			return err
		}
		if _, err := io.Copy(fw, tr); err != nil {
			return err
		}
		z.files++
	}
}

func (z *zipper) skip(abs, rel string) bool {
	if _, err := safeRel(rel); err != nil {
		return true
	}
	for _, e := range z.excluded {
		if abs == e || strings.HasPrefix(abs, e+"/") {
			return true
		}
	}
	if !z.hidden {
		for _, part := range strings.Split(rel, "/") {
			if strings.HasPrefix(part, ".") {
				return true
			}
		}
	}
	return false
}

func (r *Executor) downloadArtifact(ctx context.Context, j *runner.Job, idx, major int, with, env map[string]string) (runner.StepOutcome, error) {
	runID := j.Spec.Event.RunID
	if v := strings.TrimSpace(with["run-id"]); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return runner.StepOutcome{}, fmt.Errorf("run-id %q is not a number", v)
		}
		runID = n
	}
	dest := absPath(j, cmp.Or(strings.TrimSpace(with["path"]), "."))
	name := strings.TrimSpace(with["name"])
	var list []artifact.Artifact
	if name != "" {
		a, err := r.artifacts.Stat(ctx, runID, name)
		if err != nil || a.Repo != j.Spec.Event.Repo {
			//lint:ignore ST1005 download-artifact's wording, shown in the step log
			return runner.StepOutcome{}, fmt.Errorf("Unable to download artifact(s): Artifact not found for name: %s", name)
		}
		list = []artifact.Artifact{a}
	} else {
		all, err := r.artifacts.List(ctx, runID)
		if err != nil {
			return runner.StepOutcome{}, err
		}
		pattern := strings.TrimSpace(with["pattern"])
		for _, a := range all {
			if ok, _ := path.Match(pattern, a.Name); a.Repo == j.Spec.Event.Repo && (pattern == "" || ok) {
				list = append(list, a)
			}
		}
	}
	merge := boolInput(with, "merge-multiple", false)
	for _, a := range list {
		target := dest
		if name == "" && !merge {
			target = path.Join(dest, a.Name)
		}
		if err := r.extractArtifact(ctx, j, runID, a.Name, target); err != nil {
			return runner.StepOutcome{}, fmt.Errorf("artifact %s: %w", a.Name, err)
		}
		j.Log(idx, fmt.Sprintf("Artifact %s (%d files) downloaded to %s", a.Name, a.Files, target))
	}
	if name == "" {
		j.Log(idx, fmt.Sprintf("Total of %d artifact(s) downloaded", len(list)))
	}
	return runner.StepOutcome{Outputs: map[string]string{"download-path": dest}}, nil
}

// extractArtifact unpacks an artifact's zip into target in the sandbox,
// refusing entries that would leave it.
func (r *Executor) extractArtifact(ctx context.Context, j *runner.Job, runID int64, name, target string) error {
	// A local copy, checked against the upload's digest: the zip's
	// directory is read at offsets, which over S3 would be a request each.
	f, _, err := r.artifacts.Fetch(ctx, runID, name, path.Join(r.cfg.DataDir, "tmp"))
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	zr, err := zip.NewReader(f, fi.Size())
	if err != nil {
		return err
	}
	for _, zf := range zr.File {
		if _, err := safeRel(zf.Name); err != nil || strings.HasPrefix(zf.Name, "/") {
			return fmt.Errorf("refusing entry %q: it leaves the download directory", zf.Name)
		}
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(zipToTar(zr, pw)) }()
	err = j.Guest.Client.PutFiles(ctx, target, pr)
	pr.CloseWithError(err)
	return err
}

func zipToTar(zr *zip.Reader, w io.Writer) error {
	tw := tar.NewWriter(w)
	for _, zf := range zr.File {
		if strings.HasSuffix(zf.Name, "/") {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return err
		}
		err = tw.WriteHeader(&tar.Header{Name: zf.Name, Mode: 0o644, Size: int64(zf.UncompressedSize64), ModTime: zf.Modified, Typeflag: tar.TypeReg})
		if err == nil {
			_, err = io.Copy(tw, rc)
		}
		rc.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}
