//go:build !linux

package main

import "errors"

// guestInit is only meaningful inside a Linux guest.
func guestInit() error {
	return errors.New("init: the guest init mode needs Linux")
}
