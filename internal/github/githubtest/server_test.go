package githubtest_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/hookci/hookci/internal/github/githubtest"
)

const (
	pat   = "ghp_fakepat"
	appID = 99
	sha   = "89abcdef0123456789abcdef0123456789abcdef"
)

type fixture struct {
	t     *testing.T
	srv   *githubtest.Server
	key   *rsa.PrivateKey
	inst  string // installation token for octo/hello
	clock time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, srv: githubtest.NewServer(t), clock: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	f.srv.SetNow(func() time.Time { return f.clock })
	f.srv.AddRepo("octo", "hello", 7)
	f.srv.AddRepo("other", "repo", 8)
	f.srv.SetToken(pat)
	key, err := jwt.ParseRSAPrivateKeyFromPEM(f.srv.EnableApp(appID))
	if err != nil {
		t.Fatal(err)
	}
	f.key = key
	code, body := f.do("POST", "app/installations/7/access_tokens", f.jwt(jwt.MapClaims{}), "")
	if code != 201 {
		t.Fatalf("access token: got %d %s, want 201", code, body)
	}
	var tok struct {
		Token     string `json:"token"`
		ExpiresAt string `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(body), &tok); err != nil || tok.Token == "" || tok.ExpiresAt == "" {
		t.Fatalf("access token answer %s: %v", body, err)
	}
	f.inst = tok.Token
	return f
}

// jwt signs claims over defaults (iss = appID, iat = now-60s, exp = now+9m) with the App key.
func (f *fixture) jwt(over jwt.MapClaims) string {
	claims := jwt.MapClaims{"iss": strconv.Itoa(appID), "iat": f.clock.Add(-time.Minute).Unix(), "exp": f.clock.Add(9 * time.Minute).Unix()}
	for k, v := range over {
		claims[k] = v
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(f.key)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) do(method, path, tok, body string) (int, string) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL()+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func annotations(n int) string {
	var parts []string
	for range n {
		parts = append(parts, `{"path":"a.go","start_line":1,"end_line":1,"annotation_level":"notice","message":"m"}`)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func TestValidation(t *testing.T) {
	f := newFixture(t)
	f.srv.AddPullRequest("octo/hello", githubtest.PullRequest{Number: 1})
	long := strings.Repeat("s", 65536)
	tests := []struct {
		name, method, path, tok, body string
		want                          int
	}{
		{"status ok", "POST", "repos/octo/hello/statuses/" + sha, pat, `{"state":"success","extra":1}`, 201},
		{"status bad state", "POST", "repos/octo/hello/statuses/" + sha, pat, `{"state":"done"}`, 422},
		{"status missing state", "POST", "repos/octo/hello/statuses/" + sha, pat, `{}`, 422},
		{"status long description", "POST", "repos/octo/hello/statuses/" + sha, pat, `{"state":"success","description":"` + strings.Repeat("d", 141) + `"}`, 422},
		{"status bad sha", "POST", "repos/octo/hello/statuses/main", pat, `{"state":"success"}`, 422},
		{"status wrong type", "POST", "repos/octo/hello/statuses/" + sha, pat, `{"state":1}`, 422},
		{"bad json", "POST", "repos/octo/hello/statuses/" + sha, pat, `{"state":`, 400},
		{"no auth", "POST", "repos/octo/hello/statuses/" + sha, "", `{"state":"success"}`, 401},
		{"bad token", "POST", "repos/octo/hello/statuses/" + sha, "nope", `{"state":"success"}`, 401},
		{"unknown repo", "POST", "repos/no/such/statuses/" + sha, pat, `{"state":"success"}`, 404},
		{"other installation's repo", "POST", "repos/other/repo/statuses/" + sha, f.inst, `{"state":"success"}`, 404},
		{"unknown endpoint", "GET", "repos/octo/hello/releases", pat, "", 404},
		{"comment ok", "POST", "repos/octo/hello/issues/1/comments", pat, `{"body":"hi"}`, 201},
		{"comment empty", "POST", "repos/octo/hello/issues/1/comments", pat, `{"body":""}`, 422},
		{"comment too long", "POST", "repos/octo/hello/issues/1/comments", pat, `{"body":"` + long + `x"}`, 422},
		{"comment max length", "POST", "repos/octo/hello/issues/1/comments", pat, `{"body":"` + long + `"}`, 201},
		{"comment unknown issue", "POST", "repos/octo/hello/issues/2/comments", pat, `{"body":"hi"}`, 404},
		{"edit unknown comment", "PATCH", "repos/octo/hello/issues/comments/5", pat, `{"body":"hi"}`, 404},
		{"check run ok", "POST", "repos/octo/hello/check-runs", f.inst, `{"name":"n","head_sha":"` + sha + `","foo":{"bar":1}}`, 201},
		{"check run with PAT", "POST", "repos/octo/hello/check-runs", pat, `{"name":"n","head_sha":"` + sha + `"}`, 403},
		{"check run no name", "POST", "repos/octo/hello/check-runs", f.inst, `{"head_sha":"` + sha + `"}`, 422},
		{"check run short sha", "POST", "repos/octo/hello/check-runs", f.inst, `{"name":"n","head_sha":"abc"}`, 422},
		{"check run sha wrong type", "POST", "repos/octo/hello/check-runs", f.inst, `{"name":"n","head_sha":123}`, 422},
		{"check run bad status", "POST", "repos/octo/hello/check-runs", f.inst, `{"name":"n","head_sha":"` + sha + `","status":"running"}`, 422},
		{"check run unknown conclusion", "POST", "repos/octo/hello/check-runs", f.inst, `{"name":"n","head_sha":"` + sha + `","conclusion":"great"}`, 422},
		{"completed without conclusion", "POST", "repos/octo/hello/check-runs", f.inst, `{"name":"n","head_sha":"` + sha + `","status":"completed"}`, 422},
		{"bad completed_at", "POST", "repos/octo/hello/check-runs", f.inst, `{"name":"n","head_sha":"` + sha + `","conclusion":"success","completed_at":"yesterday"}`, 422},
		{"output without summary", "POST", "repos/octo/hello/check-runs", f.inst, `{"name":"n","head_sha":"` + sha + `","output":{"title":"t"}}`, 422},
		{"summary too long", "POST", "repos/octo/hello/check-runs", f.inst, `{"name":"n","head_sha":"` + sha + `","output":{"title":"t","summary":"` + long + `"}}`, 422},
		{"summary at limit", "POST", "repos/octo/hello/check-runs", f.inst, `{"name":"n","head_sha":"` + sha + `","output":{"title":"t","summary":"` + long[1:] + `"}}`, 201},
		{"50 annotations", "POST", "repos/octo/hello/check-runs", f.inst, `{"name":"n","head_sha":"` + sha + `","output":{"title":"t","summary":"s","annotations":` + annotations(50) + `}}`, 201},
		{"51 annotations", "POST", "repos/octo/hello/check-runs", f.inst, `{"name":"n","head_sha":"` + sha + `","output":{"title":"t","summary":"s","annotations":` + annotations(51) + `}}`, 422},
		{"annotation without path", "POST", "repos/octo/hello/check-runs", f.inst, `{"name":"n","head_sha":"` + sha + `","output":{"title":"t","summary":"s","annotations":[{"start_line":1,"end_line":1,"annotation_level":"notice","message":"m"}]}}`, 422},
		{"annotation bad level", "POST", "repos/octo/hello/check-runs", f.inst, `{"name":"n","head_sha":"` + sha + `","output":{"title":"t","summary":"s","annotations":[{"path":"a","start_line":1,"end_line":1,"annotation_level":"error","message":"m"}]}}`, 422},
		{"annotation columns across lines", "POST", "repos/octo/hello/check-runs", f.inst, `{"name":"n","head_sha":"` + sha + `","output":{"title":"t","summary":"s","annotations":[{"path":"a","start_line":1,"end_line":2,"start_column":1,"annotation_level":"notice","message":"m"}]}}`, 422},
		{"annotation no message", "POST", "repos/octo/hello/check-runs", f.inst, `{"name":"n","head_sha":"` + sha + `","output":{"title":"t","summary":"s","annotations":[{"path":"a","start_line":1,"end_line":1,"annotation_level":"notice"}]}}`, 422},
		{"JWT on repo endpoint", "POST", "repos/octo/hello/statuses/" + sha, f.jwt(nil), `{"state":"success"}`, 401},
		{"PAT on app endpoint", "POST", "app/installations/7/access_tokens", pat, "", 401},
		{"JWT exp too far", "POST", "app/installations/7/access_tokens", f.jwt(jwt.MapClaims{"exp": f.clock.Add(11 * time.Minute).Unix()}), "", 401},
		{"JWT expired", "POST", "app/installations/7/access_tokens", f.jwt(jwt.MapClaims{"exp": f.clock.Add(-time.Second).Unix()}), "", 401},
		{"JWT iat in future", "POST", "app/installations/7/access_tokens", f.jwt(jwt.MapClaims{"iat": f.clock.Add(time.Minute).Unix()}), "", 401},
		{"JWT wrong iss", "POST", "app/installations/7/access_tokens", f.jwt(jwt.MapClaims{"iss": "100"}), "", 401},
		{"JWT numeric iss", "POST", "app/installations/7/access_tokens", f.jwt(jwt.MapClaims{"iss": appID}), "", 201},
		{"unknown installation", "POST", "app/installations/9/access_tokens", f.jwt(nil), "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := f.do(tt.method, tt.path, tt.tok, tt.body)
			if code != tt.want {
				t.Errorf("got %d %s, want %d", code, trim(body), tt.want)
			}
			if code >= 400 {
				var e struct {
					Message string `json:"message"`
					DocURL  string `json:"documentation_url"`
				}
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Message == "" || e.DocURL == "" {
					t.Errorf("error body %s: want GitHub's {message, documentation_url} shape (%v)", trim(body), err)
				}
			}
		})
	}
}

func trim(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

func TestJWTFromOtherKeyRejected(t *testing.T) {
	f := newFixture(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f.key = other
	if code, body := f.do("POST", "app/installations/7/access_tokens", f.jwt(nil), ""); code != 401 {
		t.Errorf("got %d %s, want 401", code, body)
	}
}

func TestInstallationTokenExpires(t *testing.T) {
	f := newFixture(t)
	path := "repos/octo/hello/statuses/" + sha
	if code, _ := f.do("POST", path, f.inst, `{"state":"pending"}`); code != 201 {
		t.Fatalf("fresh token: got %d, want 201", code)
	}
	f.clock = f.clock.Add(time.Hour)
	if code, _ := f.do("POST", path, f.inst, `{"state":"pending"}`); code != 401 {
		t.Errorf("token after its hour: got %d, want 401", code)
	}
}

func TestFailNextAndRecording(t *testing.T) {
	f := newFixture(t)
	f.srv.FailNext(2, 503, map[string]string{"Retry-After": "3"})
	path := "repos/octo/hello/statuses/" + sha
	var got []int
	for range 3 {
		code, _ := f.do("POST", path, pat, `{"state":"pending","context":"c"}`)
		got = append(got, code)
	}
	if want := []int{503, 503, 201}; !slices.Equal(got, want) {
		t.Errorf("got codes %v, want %v", got, want)
	}
	if n := len(f.srv.Statuses("octo/hello", sha)); n != 1 {
		t.Errorf("got %d statuses, want 1 (failed requests are not applied)", n)
	}
	reqs := f.srv.Requests()
	last := reqs[len(reqs)-1]
	if last.Method != "POST" || last.Path != "/"+path || last.Status != 201 {
		t.Errorf("last recorded request: got %+v, want POST /%s 201", last, path)
	}
}

func TestListPaginationAndPulls(t *testing.T) {
	f := newFixture(t)
	for i := range 35 {
		f.srv.SetBranch("octo/hello", "b"+strconv.Itoa(i), sha)
	}
	code, body := f.do("GET", "repos/octo/hello/branches", pat, "")
	var page []map[string]any
	if err := json.Unmarshal([]byte(body), &page); code != 200 || err != nil || len(page) != 30 {
		t.Errorf("first page: got %d, %d items (%v), want 200 with 30", code, len(page), err)
	}
	f.srv.AddPullRequest("octo/hello", githubtest.PullRequest{Number: 2, HeadRef: "x", HeadSHA: sha, HeadRepoFullName: "fork/hello"})
	f.srv.AddPullRequest("octo/hello", githubtest.PullRequest{Number: 3, State: "closed"})
	_, body = f.do("GET", "repos/octo/hello/pulls?state=open", pat, "")
	if !bytes.Contains([]byte(body), []byte(`"fork":true`)) || bytes.Contains([]byte(body), []byte(`"number":3`)) {
		t.Errorf("open pulls: got %s, want only #2, marked as a fork", trim(body))
	}
}

func TestUnknownMethodIs404JSON(t *testing.T) {
	f := newFixture(t)
	for _, m := range []string{"DELETE", "PUT"} {
		code, body := f.do(m, "repos/octo/hello/check-runs", pat, "")
		if code != 404 || !strings.Contains(body, `"message":"Not Found"`) {
			t.Errorf("%s: got %d %s, want 404 with GitHub's JSON", m, code, trim(body))
		}
	}
}

func TestStallNext(t *testing.T) {
	f := newFixture(t)
	f.srv.StallNext(1, time.Millisecond)
	if code, _ := f.do("POST", "repos/octo/hello/statuses/"+sha, pat, `{"state":"success"}`); code != 201 {
		t.Errorf("stalled request: got %d, want 201 once served", code)
	}
	if n := len(f.srv.Statuses("octo/hello", sha)); n != 1 {
		t.Errorf("got %d statuses, want 1", n)
	}
}
