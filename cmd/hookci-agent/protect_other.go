//go:build !linux

package main

import "errors"

// setNoDump fails: non-dumpable processes are a Linux feature.
func setNoDump() error { return errors.New("--no-dump needs Linux") }

// closeInheritedFDs does nothing outside Linux.
func closeInheritedFDs(keep int) error { return nil }
