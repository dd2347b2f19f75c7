package namespace

import "github.com/hookci/hookci/internal/sandbox/uidpool"

// Defaults of the host uid range sandboxes run as (package uidpool; the
// microVM backend's QEMU processes take their uids from the same range).
const (
	DefaultUIDBase    = uidpool.DefaultBase
	DefaultUIDCount   = uidpool.DefaultCount
	DefaultUIDLockDir = uidpool.DefaultLockDir
	// DefaultSubUIDBase is where the sandboxes' subordinate ranges start
	// (Config.SubUIDBase): far above every host user and the sandbox uids.
	DefaultSubUIDBase = uidpool.DefaultSubBase
)

// subUIDSize is the size of a sandbox's subordinate range: the ids 0-65535
// a container's image may use (65534 is nobody).
const subUIDSize = uidpool.SubSize

// guestUID is the uid (and gid) the job has inside its user namespace: the
// image's "runner" user (image.RunnerUID), as on GitHub's hosted runners.
const guestUID = 1001
