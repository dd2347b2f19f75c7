package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// The client commands (runs, logs, cancel, rerun, dispatch) talk to a
// running server's Actions-shaped API (internal/web/api_actions.go). Exit
// statuses: 0 done, 1 the server refused or failed (or, for logs --follow,
// the job did not succeed), 2 usage.

const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	defaultHost = "http://127.0.0.1:8080"
)

// clientFlags are the flags every client command takes.
type clientFlags struct {
	server    string
	tokenFile string
	json      bool
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	def := os.Getenv("HOOKCI_SERVER")
	if def == "" {
		def = defaultHost
	}
	fs.StringVar(&c.server, "server", def, "server `URL` (default $HOOKCI_SERVER or "+defaultHost+")")
	fs.StringVar(&c.tokenFile, "token-file", "", "read the API token from `file` (default $HOOKCI_API_TOKEN)")
	fs.BoolVar(&c.json, "json", false, "print JSON for scripts")
}

// apiClient calls the server's API with the token as a Bearer header.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func (c *clientFlags) client() (*apiClient, error) {
	tok := os.Getenv("HOOKCI_API_TOKEN")
	if c.tokenFile != "" {
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	base := strings.TrimRight(c.server, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("--server %q: want an http:// or https:// URL", c.server)
	}
	return &apiClient{base: base, token: tok, http: &http.Client{}}, nil
}

// apiError is the server's answer to a refused request.
type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("server answered %d", e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
}

// do sends a request; a status of 300 or more is an *apiError with the
// server's message. The caller closes the body.
func (c *apiClient) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var m struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &m) != nil || m.Message == "" {
			m.Message = strings.TrimSpace(string(b))
		}
		return nil, &apiError{Status: resp.StatusCode, Message: m.Message}
	}
	return resp, nil
}

// getJSON decodes a GET's JSON answer into out.
func (c *apiClient) getJSON(ctx context.Context, path string, out any) error {
	resp, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding %s: %w", path, err)
	}
	return nil
}

// fail prints err and returns the exit status it means.
func cliFail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "hookci %s: %v\n", cmd, err)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		fmt.Fprintln(stderr, "  (set HOOKCI_API_TOKEN or --token-file)")
	}
	return exitFailed
}

// isTTY reports whether w is a terminal (colour only there).
func cliIsTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// painter colours words on a terminal and leaves them alone elsewhere.
type painter bool

func (p painter) state(status string, conclusion *string) string {
	word := status
	if conclusion != nil && *conclusion != "" {
		word = *conclusion
	}
	if !p {
		return word
	}
	code := "39" // every code has two digits: coloured cells stay equally wide for tabwriter
	switch word {
	case "success":
		code = "32"
	case "failure", "timed_out":
		code = "31"
	case "cancelled", "skipped":
		code = "90"
	case "in_progress", "queued", "waiting", "pending":
		code = "33"
	}
	return "\x1b[" + code + "m" + word + "\x1b[0m"
}

// header is a table's first header cell, as wide in bytes as a coloured
// state cell when colouring.
func (p painter) header(s string) string {
	if !p {
		return s
	}
	return "\x1b[01m" + s + "\x1b[0m"
}

// table writes aligned columns.
func cliTable(w io.Writer, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// ago is a relative time for tables.
func cliAgo(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.Format("2006-01-02")
}

// writeJSONOut prints v as indented JSON.
func cliJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
