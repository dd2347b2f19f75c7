//go:build !linux

package main

import "errors"

// guestInit is only meaningful inside a Linux guest.
func guestInit() error {
	return errors.New("init: the guest init mode needs Linux")
}

func setupJobCgroup(dir string) error { return errors.New("job cgroups need Linux") }
