//go:build !linux

package main

import "errors"

// sandboxInitArg is os.Args[1] of a namespace sandbox's PID 1 (Linux only).
const sandboxInitArg = "sandbox-init"

// sandboxInit is only meaningful in a Linux namespace sandbox.
func sandboxInit(args []string) error {
	return errors.New("sandbox-init needs Linux")
}
