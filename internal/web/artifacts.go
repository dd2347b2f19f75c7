package web

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/hookci/hookci/internal/artifact"
	"github.com/hookci/hookci/internal/blob"
)

// ArtifactsHandler serves the artifacts runs uploaded (actions/upload-artifact):
//
//	GET /api/runs/{id}/artifacts           JSON list: [{"name","size","digest","files","created",…}]
//	GET /runs/{id}/artifacts/{name}        the artifact as a zip download
//
// Mount both patterns behind the same auth as the run pages, e.g.
// mux.Handle("GET /runs/{id}/artifacts/{name}", s.auth(h)) and
// mux.Handle("GET /api/runs/{id}/artifacts", s.auth(h)).
func ArtifactsHandler(store *artifact.Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/runs/{id}/artifacts", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			http.Error(w, "bad run id", http.StatusBadRequest)
			return
		}
		list, err := store.List(r.Context(), id)
		if err != nil {
			http.Error(w, "listing artifacts failed", http.StatusInternalServerError)
			return
		}
		if list == nil {
			list = []artifact.Artifact{}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(list)
	})
	mux.HandleFunc("GET /runs/{id}/artifacts/{name}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			http.Error(w, "bad run id", http.StatusBadRequest)
			return
		}
		f, a, err := store.Open(r.Context(), id, r.PathValue("name"))
		if errors.Is(err, fs.ErrNotExist) {
			http.NotFound(w, r)
			return
		}
		if err != nil {
			http.Error(w, "opening the artifact failed", http.StatusInternalServerError)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Disposition", `attachment; filename="`+a.Name+`.zip"`)
		if a.Digest == "" { // recorded before digests were
			http.ServeContent(w, r, a.Name+".zip", a.Created, f)
			return
		}
		// Checked against the digest recorded at upload while it is sent
		// (the blob store may be a bucket others can write): the whole zip,
		// a Range asked for or not, with its last bytes held back until the
		// digest matches. On a mismatch the response is cut short, so the
		// download fails rather than ending as a complete, altered file.
		w.Header().Set("Content-Length", strconv.FormatInt(a.Size, 10))
		w.Header().Set("Last-Modified", a.Created.UTC().Format(http.TimeFormat))
		if err := copyVerified(w, f, a.Digest); err != nil {
			slog.Error("artifact download refused: the stored zip does not match its digest", "run", id, "artifact", a.Name, "err", err)
			panic(http.ErrAbortHandler)
		}
	})
	return mux
}

// copyVerified copies r to w, holding back the last chunk read until r has
// ended and matched digest ("sha256:<hex>", blob.Verify); on a mismatch or
// a read error that chunk is never written.
func copyVerified(w io.Writer, r io.Reader, digest string) error {
	hw := &holdLast{w: w}
	if _, err := io.Copy(hw, blob.Verify(r, digest)); err != nil {
		return err
	}
	_, err := w.Write(hw.held)
	return err
}

// holdLast writes each chunk only once the next one arrives.
type holdLast struct {
	w    io.Writer
	held []byte
}

func (h *holdLast) Write(p []byte) (int, error) {
	if len(h.held) > 0 {
		if _, err := h.w.Write(h.held); err != nil {
			return 0, err
		}
	}
	h.held = append(h.held[:0], p...)
	return len(p), nil
}
