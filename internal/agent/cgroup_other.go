//go:build !linux

package agent

import "syscall"

func setCgroup(a *syscall.SysProcAttr, fd int) {}
