package web

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"strconv"

	"github.com/hookci/hookci/internal/artifact"
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
		http.ServeContent(w, r, a.Name+".zip", a.Created, f)
	})
	return mux
}
