package githubtest_test

import (
	"encoding/json"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestScopedAccessTokens: the fake refuses what GitHub refuses when a token
// is asked for (bad JWT, a repository outside the installation, more than
// the installation has) and enforces what it granted on every request.
func TestScopedAccessTokens(t *testing.T) {
	f := newFixture(t)
	f.srv.SetInstallationPermissions(7, map[string]string{"metadata": "read", "contents": "read", "statuses": "write"})
	f.srv.AddRepo("octo", "sibling", 7)
	const ask = "app/installations/7/access_tokens"
	refused := []struct {
		name, tok, body string
		want            int
	}{
		{"no JWT", "", `{"repositories":["hello"]}`, 401},
		{"installation token instead of JWT", f.inst, `{"repositories":["hello"]}`, 401},
		{"repository of another installation", f.jwt(nil), `{"repositories":["repo"]}`, 422},
		{"missing repository", f.jwt(nil), `{"repositories":["nope"]}`, 422},
		{"more than granted", f.jwt(nil), `{"repositories":["hello"],"permissions":{"contents":"write"}}`, 422},
		{"not granted at all", f.jwt(nil), `{"permissions":{"issues":"read"}}`, 422},
		{"bad level", f.jwt(nil), `{"permissions":{"contents":"owner"}}`, 422},
	}
	for _, tc := range refused {
		if code, body := f.do("POST", ask, tc.tok, tc.body); code != tc.want {
			t.Errorf("%s: got %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	code, body := f.do("POST", ask, f.jwt(jwt.MapClaims{}), `{"repositories":["hello"],"permissions":{"contents":"read"}}`)
	if code != 201 {
		t.Fatalf("scoped token: got %d %s", code, body)
	}
	var tok struct{ Token string }
	json.Unmarshal([]byte(body), &tok)
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "repos/octo/hello", "", 200},
		{"GET", "repos/octo/sibling", "", 404},
		{"POST", "repos/octo/hello/statuses/" + sha, `{"state":"success"}`, 403},
		{"POST", "repos/octo/sibling/statuses/" + sha, `{"state":"success"}`, 404},
		{"GET", "repos/octo/hello/pulls", "", 403},
	} {
		if code, body := f.do(tc.method, tc.path, tok.Token, tc.body); code != tc.want {
			t.Errorf("%s %s: got %d %s, want %d", tc.method, tc.path, code, body, tc.want)
		}
	}
	if code, _ := f.do("DELETE", "installation/token", tok.Token, ""); code != 204 {
		t.Errorf("revoke: got %d, want 204", code)
	}
	if code, _ := f.do("GET", "repos/octo/hello", tok.Token, ""); code != 401 {
		t.Errorf("after revoke: got %d, want 401", code)
	}
	if code, _ := f.do("DELETE", "installation/token", tok.Token, ""); code != 401 {
		t.Errorf("second revoke: got %d, want 401", code)
	}
	minted := f.srv.MintedTokens()
	if last := minted[len(minted)-1]; !last.Revoked || len(last.Repositories) != 1 {
		t.Errorf("record of the scoped token: %+v", last)
	}
}
