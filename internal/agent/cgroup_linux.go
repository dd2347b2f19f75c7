package agent

import "syscall"

// setCgroup starts the process directly in the cgroup fd (clone3 CLONE_INTO_CGROUP).
func setCgroup(a *syscall.SysProcAttr, fd int) {
	if fd >= 0 {
		a.UseCgroupFD, a.CgroupFD = true, fd
	}
}
