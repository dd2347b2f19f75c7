package gitrepo

import (
	"context"
	"os"
	"os/exec"
	"strings"
)

// inherited lists the variables of the server's environment a git
// subprocess gets; everything else (the webhook secret, tokens, the App key
// path…) stays out of git and of anything git runs (hooks, helpers).
var inherited = map[string]bool{
	"PATH": true, "HOME": true, "LANG": true, "TMPDIR": true, "TZ": true,
	"http_proxy": true, "https_proxy": true, "no_proxy": true, "all_proxy": true,
	"HTTP_PROXY": true, "HTTPS_PROXY": true, "NO_PROXY": true, "ALL_PROXY": true,
	"SSL_CERT_FILE": true, "SSL_CERT_DIR": true, "GIT_SSL_CAINFO": true, "GIT_SSL_CAPATH": true,
	"GIT_EXEC_PATH": true,
}

// Env is the whole environment of a git subprocess: the few variables of
// the server's environment git needs (PATH, HOME, LANG, proxies, CA
// bundles), no prompts, the C locale, then extra (GIT_* settings of that
// one command, e.g. its credential header).
func Env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if inherited[k] {
			env = append(env, kv)
		}
	}
	env = append(env, "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false", "SSH_ASKPASS=/bin/false", "LC_ALL=C")
	return append(env, extra...)
}

// Command returns a git command running in dir with Env(extra...). Every
// git hookci runs is made here.
func Command(ctx context.Context, dir string, extra []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = Env(extra...)
	return cmd
}

// jobEnv is the environment of a git command run for a job (a repository
// or ref the job chose): the operator's global and system configuration
// (credential helpers, stored credentials, url rewrites) do not apply, and
// the only credential is token ("" for none), sent as a header.
func jobEnv(token string) []string {
	env := []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"}
	return append(env, headerEnv(token)...)
}

// headerEnv passes token to git as an extra header set through the
// environment, never through the URL or the command line, so it cannot
// appear in error messages, logs or the process list.
func headerEnv(token string) []string {
	if token == "" {
		return nil
	}
	return []string{
		"GIT_CONFIG_COUNT=1",
		"GIT_CONFIG_KEY_0=http.extraHeader",
		"GIT_CONFIG_VALUE_0=Authorization: " + authHeader(token),
	}
}

// authHeader is the Authorization header value presenting token ("" for
// none), as GitHub takes an installation or job token over git's HTTP.
func authHeader(token string) string {
	if token == "" {
		return ""
	}
	return "Basic " + basicAuth("x-access-token", token)
}

// NoUserConfig is the environment that keeps the operator's global and
// system git configuration (credential helpers, url rewrites, hooks paths)
// out of a git command run on a job's behalf.
func NoUserConfig() []string { return jobEnv("") }
