package sandbox

import (
	"strings"
	"testing"
)

// TestContainerSpecNodeMount: the node bundle binds only where its loader
// and libraries are named (nodebundle.Mount); other sources and unclean
// targets are refused.
func TestContainerSpecNodeMount(t *testing.T) {
	spec := func(m ContainerMount) ContainerSpec {
		return ContainerSpec{Name: "job", RootFS: "/images/x", Mounts: []ContainerMount{m}}
	}
	if err := spec(ContainerMount{Source: "node", Target: "/__e/node20", ReadOnly: true}).Validate(); err != nil {
		t.Errorf("node at /__e/node20: %v", err)
	}
	for m, want := range map[ContainerMount]string{
		{Source: "node", Target: "/__e/node20/bin/node"}: "binds at /__e/node20 only",
		{Source: "node", Target: "/usr/local"}:           "binds at /__e/node20 only",
		{Source: "host", Target: "/x"}:                   "unknown mount source",
		{Source: "node", Target: "/__e/../etc"}:          "not a clean absolute path",
	} {
		err := spec(m).Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: got %v, want an error with %q", m, err, want)
		}
	}
}
