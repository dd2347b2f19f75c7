//go:build !amd64

package image

// HostTSCKHz returns 0: the TSC is an x86 notion.
func HostTSCKHz() int64 { return 0 }
