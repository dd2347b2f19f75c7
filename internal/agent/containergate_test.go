package agent

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"runtime"
	"testing"
)

// TestContainerRoutesGated: a Server serves the /containers routes only
// after ServeContainers (the microVM guest's agent); any other answers 404
// for each of them. With the routes, stopping an unknown container is a
// success and a bad start request a 400, which tells the two apart.
func TestContainerRoutesGated(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("containers need Linux")
	}
	for _, tc := range []struct {
		name       string
		containers bool
		wantStop   error // nil or fs.ErrNotExist
	}{
		{"plain agent", false, fs.ErrNotExist},
		{"guest agent", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hostEnd, guestEnd := net.Pipe()
			ctx, cancel := context.WithCancel(context.Background())
			srv := NewServer(t.Logf)
			if tc.containers {
				srv.ServeContainers()
				srv.ServeContainers() // twice is harmless
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				srv.ServeConn(ctx, guestEnd)
			}()
			c, err := NewClient(hostEnd)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				c.Close()
				cancel()
				<-done
			}()
			err = c.StopContainer(ctx, "nosuch")
			if (tc.wantStop == nil) != (err == nil) || (tc.wantStop != nil && !errors.Is(err, tc.wantStop)) {
				t.Errorf("DELETE /containers: got %v, want %v", err, tc.wantStop)
			}
			// A bad request: the route (if served) refuses it before doing anything.
			err = c.StartContainer(ctx, ContainerStart{Name: "BAD NAME"})
			if got := errors.Is(err, fs.ErrNotExist); got == tc.containers || err == nil {
				t.Errorf("POST /containers with a bad name: got %v, want 404 only without the routes, 400 with them", err)
			}
		})
	}
}
