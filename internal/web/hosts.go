package web

import (
	"net/http"

	"github.com/hookci/hookci/internal/store"
)

// apiHosts lists the host registry: every hookci server sharing the store,
// its labels and job slots, when it was last heard of and whether that is
// within the lease. Hosts are no repository's data: any signed-in reader
// may see them.
func (s *Server) apiHosts(w http.ResponseWriter, r *http.Request) {
	hosts, err := s.st.Queries().Hosts(r.Context())
	if err != nil {
		s.log.Error("listing hosts", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if hosts == nil {
		hosts = []store.Host{}
	}
	writeJSON(w, hosts)
}
