package githubtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

const docURL = "https://docs.github.com/rest"

// apiError is GitHub's error body.
type apiError struct {
	Message          string       `json:"message"`
	Errors           []fieldError `json:"errors,omitempty"`
	DocumentationURL string       `json:"documentation_url"`
	Status           string       `json:"status"`
}

type fieldError struct {
	Resource string `json:"resource,omitempty"`
	Field    string `json:"field,omitempty"`
	Code     string `json:"code"`
	Message  string `json:"message,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Message: msg, DocumentationURL: docURL, Status: strconv.Itoa(status)})
}

// invalid answers 422 "Validation Failed" for one field, as GitHub does.
func invalid(w http.ResponseWriter, resource, field, code, msg string) {
	writeJSON(w, http.StatusUnprocessableEntity, apiError{
		Message:          "Validation Failed",
		Errors:           []fieldError{{Resource: resource, Field: field, Code: code, Message: msg}},
		DocumentationURL: docURL,
		Status:           "422",
	})
}

// decodeBody reads a JSON body into v. Unknown fields are tolerated (as GitHub does); bad
// JSON is a 400 and a value of the wrong type a 422. It reports whether the handler goes on.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "Problems reading body")
		return false
	}
	if len(b) == 0 {
		b = []byte("{}")
	}
	err = json.Unmarshal(b, v)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return true
	case errors.As(err, &te):
		writeError(w, http.StatusUnprocessableEntity,
			fmt.Sprintf("Invalid request.\n\nFor 'properties/%s', a %s is not a %s.", te.Field, te.Value, te.Type))
	default:
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
	}
	return false
}

// paginate returns the page of items the request asks for (page, per_page: default 30, max
// 100) and sets GitHub's Link header.
func paginate[T any](w http.ResponseWriter, r *http.Request, items []T) []T {
	q := r.URL.Query()
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per < 1 {
		per = 30
	}
	per = min(per, 100)
	last := max((len(items)+per-1)/per, 1)
	if page < last {
		w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next", <%s>; rel="last"`,
			pageURL(r, page+1), pageURL(r, last)))
	}
	lo := min((page-1)*per, len(items))
	hi := min(lo+per, len(items))
	return items[lo:hi]
}

func pageURL(r *http.Request, page int) string {
	u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
	q := r.URL.Query()
	q.Set("page", strconv.Itoa(page))
	u.RawQuery = q.Encode()
	return u.String()
}

func pathInt(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	n, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || n <= 0 {
		writeError(w, http.StatusNotFound, "Not Found")
		return 0, false
	}
	return n, true
}

// ts formats t like GitHub (ISO 8601, UTC, seconds), or null when zero.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}
