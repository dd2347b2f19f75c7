package runner

import "github.com/hookci/hookci/internal/agent"

// Guest is what the runner drives a job through: the agent in a started
// sandbox and where the job's directories are as that agent sees them. The
// caller starts and destroys the sandbox; the runner never needs to know
// which backend it is.
type Guest struct {
	Client *agent.Client
	Layout agent.Layout
	// Backend names the sandbox for the job's log ("host", "microvm"…).
	Backend string
	// WorkspaceReady is set when the sandbox came with the commit already
	// at Layout.Workspace (so the runner does not put it there).
	WorkspaceReady bool
	// Network is set when the job can reach the network: egress was
	// granted, or the backend (host) cannot take it away.
	Network bool
	// Containers starts containers in the job's sandbox (services.go);
	// nil when the backend cannot.
	Containers ContainerStarter
	// Env is the environment every process starts from (KEY=VALUE, below
	// GitHub's variables): a job container's image env.
	Env []string
}
