//go:build !(linux && amd64)

package namespace

import (
	"errors"
	"runtime"
)

// seccompProgram has a filter for x86_64 only: the namespace backend refuses
// to start jobs elsewhere rather than start them unfiltered.
func seccompProgram() ([]byte, error) {
	return nil, errors.New("no seccomp filter for " + runtime.GOOS + "/" + runtime.GOARCH + " (namespace sandboxes need linux/amd64)")
}
