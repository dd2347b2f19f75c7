package image

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadAptSources(t *testing.T) {
	got, err := readAptSources("testdata/apt")
	if err != nil {
		t.Fatal(err)
	}
	want := []aptSource{
		{URI: "http://mirror.example/debian", Suites: []string{"bookworm"}, Components: []string{"main", "contrib"}},
		{URI: "http://opts.example/debian", Suites: []string{"bookworm-backports"}, Components: []string{"main"}},
		{URI: "https://other.example/apt", Suites: []string{"stable"}, Components: []string{"main"}},
		{URI: "http://deb822.example/debian", Suites: []string{"trixie", "trixie-updates"}, Components: []string{"main"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("readAptSources mismatch (-want +got):\n%s", diff)
	}
}

func TestReadAptSourcesMissingDir(t *testing.T) {
	got, err := readAptSources(t.TempDir())
	if err != nil || len(got) != 0 {
		t.Errorf("got %v, %v; want no sources and no error", got, err)
	}
}
