//go:build !linux

package agent

import (
	"errors"
	"net/http"
)

type guestContainer struct{}

// containerRoutes registers nothing: containers need Linux.
func (s *Server) containerRoutes(*http.ServeMux) {}

// ContainerMain fails: containers need Linux.
func ContainerMain(string) error { return errors.New("containers need Linux") }
