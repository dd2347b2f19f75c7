package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Paging of the list endpoints (/api/runs, /api/deliveries) is by keyset, in
// GitHub's style for cursor-paginated endpoints: ?per_page= (1–100, default
// defaultPerPage) and ?before=<cursor>, the id of the last item of the
// previous page; the next page is announced in a Link header
// (<…?before=…&per_page=…>; rel="next") while there may be more.
const (
	defaultPerPage = 30
	maxPerPage     = 100
)

// page is a list request's paging parameters.
type page struct {
	perPage int
	before  string
}

// parsePage reads per_page and before, answering a bad value itself.
func parsePage(w http.ResponseWriter, r *http.Request) (page, bool) {
	p := page{perPage: defaultPerPage, before: r.URL.Query().Get("before")}
	if v := r.URL.Query().Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			http.Error(w, "per_page: want a whole number from 1 to 100", http.StatusBadRequest)
			return p, false
		}
		p.perPage = min(n, maxPerPage)
	}
	return p, true
}

// setNext announces the page after one that ended at cursor last, when the
// page was full (there may be more).
func setNext(w http.ResponseWriter, r *http.Request, p page, got int, last string) {
	if got < p.perPage || last == "" {
		return
	}
	q := url.Values{}
	for k, v := range r.URL.Query() {
		q[k] = v
	}
	q.Set("per_page", strconv.Itoa(p.perPage))
	q.Set("before", last)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	next := url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, next.String()))
}
