package workflow

import "testing"

// Cases from GitHub's "Filter pattern cheat sheet" and its examples.
func TestMatchFilter(t *testing.T) {
	tests := []struct {
		patterns []string
		name     string
		want     bool
	}{
		{[]string{"feature/*"}, "feature/my-branch", true},
		{[]string{"feature/*"}, "feature/your/branch", false},
		{[]string{"feature/**"}, "feature/beta-a/my-branch", true},
		{[]string{"feature/**"}, "feature/mona/the/octocat", true},
		{[]string{"main", "releases/mona-the-octocat"}, "releases/mona-the-octocat", true},
		{[]string{"main", "releases/mona-the-octocat"}, "releases/other", false},
		{[]string{"*"}, "main", true},
		{[]string{"*"}, "releases/x", false},
		{[]string{"**"}, "all/the/branches", true},
		{[]string{"*-alpha"}, "v2-alpha", true},
		{[]string{"*-alpha"}, "alpha", false},
		{[]string{"v2*"}, "v2", true},
		{[]string{"v2*"}, "v2.0", true},
		{[]string{"v2*"}, "v1.9", false},
		{[]string{"v[12].[0-9]+.[0-9]+"}, "v1.10.1", true},
		{[]string{"v[12].[0-9]+.[0-9]+"}, "v2.0.0", true},
		{[]string{"v[12].[0-9]+.[0-9]+"}, "v3.0.0", false},
		{[]string{"v[12].[0-9]+.[0-9]+"}, "v1..1", false},
		{[]string{"Octoc?t"}, "Octot", true},
		{[]string{"Octoc?t"}, "Octoct", true},
		{[]string{"Octoc?t"}, "Octocct", false},
		{[]string{"[CB]at"}, "Cat", true},
		{[]string{"[CB]at"}, "Rat", false},
		{[]string{"[1-2]00"}, "200", true},
		{[]string{"a.b"}, "axb", false},
		{[]string{`feature\+x`}, "feature+x", true},
		{[]string{`feature\+x`}, "featurex", false},
		// paths
		{[]string{"*"}, "README.md", true},
		{[]string{"*"}, "server/README.md", false},
		{[]string{"*.jsx?"}, "page.js", true},
		{[]string{"*.jsx?"}, "page.jsx", true},
		{[]string{"**"}, "all/the/files.md", true},
		{[]string{"*.js"}, "app.js", true},
		{[]string{"*.js"}, "src/app.js", false},
		{[]string{"**.js"}, "index.js", true},
		{[]string{"**.js"}, "js/index.js", true},
		{[]string{"docs/*"}, "docs/README.md", true},
		{[]string{"docs/*"}, "docs/mona/octocat.txt", false},
		{[]string{"docs/**"}, "docs/mona/octocat.txt", true},
		{[]string{"docs/**/*.md"}, "docs/README.md", true},
		{[]string{"docs/**/*.md"}, "docs/mona/hello-world.md", true},
		{[]string{"docs/**/*.md"}, "docs/a/markdown/file.md", true},
		{[]string{"**/docs/**"}, "docs/hello.md", true},
		{[]string{"**/docs/**"}, "dir/docs/my-file.txt", true},
		{[]string{"**/docs/**"}, "space/docs/plan/space.doc", true},
		{[]string{"**/README.md"}, "README.md", true},
		{[]string{"**/README.md"}, "js/README.md", true},
		{[]string{"**/*src/**"}, "a/src/app.js", true},
		{[]string{"**/*src/**"}, "my-src/code/js/app.js", true},
		{[]string{"**/*-post.md"}, "my-post.md", true},
		{[]string{"**/*-post.md"}, "path/their-post.md", true},
		{[]string{"**/migrate-*.sql"}, "migrate-10909.sql", true},
		{[]string{"**/migrate-*.sql"}, "db/migrate-v1.0.sql", true},
		{[]string{"**/migrate-*.sql"}, "db/sept/migrate-v1.sql", true},
		{[]string{"*.md", "!README.md"}, "hello.md", true},
		{[]string{"*.md", "!README.md"}, "README.md", false},
		{[]string{"*.md", "!README.md"}, "docs/hello.md", false},
		{[]string{"*.md", "!README.md", "README*"}, "hello.md", true},
		{[]string{"*.md", "!README.md", "README*"}, "README.md", true},
		{[]string{"*.md", "!README.md", "README*"}, "README.doc", true},
		{[]string{"releases/**", "!releases/**-alpha"}, "releases/10", true},
		{[]string{"releases/**", "!releases/**-alpha"}, "releases/beta/mona", true},
		{[]string{"releases/**", "!releases/**-alpha"}, "releases/10-alpha", false},
		{[]string{"releases/**", "!releases/**-alpha"}, "releases/beta/3-alpha", false},
		{[]string{"héllo/*"}, "héllo/x", true},
	}
	for _, tt := range tests {
		got, err := MatchFilter(tt.patterns, tt.name)
		if err != nil {
			t.Errorf("MatchFilter(%q, %q): %v", tt.patterns, tt.name, err)
			continue
		}
		if got != tt.want {
			t.Errorf("MatchFilter(%q, %q) = %v, want %v", tt.patterns, tt.name, got, tt.want)
		}
	}
}

func TestMatchFilterInvalid(t *testing.T) {
	if _, err := MatchFilter([]string{"v[0-9"}, "v1"); err == nil {
		t.Error("MatchFilter with unclosed [ succeeded, want error")
	}
}
