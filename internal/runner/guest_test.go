package runner

import (
	"context"
	"strings"
	"testing"
)

// TestGuestLayoutPath: a step's PATH starts from the guest's Layout.Path
// (the host backend gives the server's), the standard one when it is empty,
// with GITHUB_PATH additions in front.
func TestGuestLayoutPath(t *testing.T) {
	src := `
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: echo "path=$PATH"
      - run: echo /opt/added >> "$GITHUB_PATH"
      - run: echo "path=$PATH"
`
	const std = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	tests := []struct {
		name, layoutPath, want string
	}{
		{"standard", "", std},
		{"given by the backend", "/opt/hookci-test/bin:/usr/bin:/bin", "/opt/hookci-test/bin:/usr/bin:/bin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, j := loadJob(t, src, "j")
			g := startHost(t)
			g.Layout.Path = tt.layoutPath
			rec := newRecorder()
			res, err := Run(context.Background(), g, &Spec{Workflow: w, Job: j, Event: EventInfo{Name: "push", Repo: "octo/hello"}}, rec)
			if err != nil {
				t.Fatal(err)
			}
			if res.Conclusion != "success" {
				t.Fatalf("conclusion = %s, want success; log:\n%s", res.Conclusion, rec.all())
			}
			if got := rec.log(1); !strings.Contains(got, "path="+tt.want+"\n") && !strings.HasSuffix(got, "path="+tt.want) {
				t.Errorf("step 1 log = %q, want path=%s", got, tt.want)
			}
			if got, want := rec.log(3), "path=/opt/added:"+tt.want; !strings.Contains(got, want) {
				t.Errorf("step 3 log = %q, want %s", got, want)
			}
		})
	}
}
