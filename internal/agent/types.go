package agent

import (
	"fmt"
	"io/fs"
)

// Version is the protocol version the agent reports in Info and in the
// Hookci-Agent-Version header.
const Version = "1"

// ExecRequest describes one process to run in the sandbox.
type ExecRequest struct {
	// Argv is the program and its arguments; Argv[0] without a slash is
	// resolved with the PATH found in Env.
	Argv []string `json:"argv"`
	// Env is the full environment as KEY=VALUE; nothing is inherited from the agent.
	Env []string `json:"env,omitempty"`
	// Dir is the working directory, created if missing; empty means the
	// agent's own working directory.
	Dir string `json:"dir,omitempty"`
	// Files are written (parents created) before the process starts.
	Files []FileSpec `json:"files,omitempty"`
	// Collect names files (absolute paths) read back after the process
	// exits, returned in ExecResult.Files when small enough.
	Collect []string `json:"collect,omitempty"`
}

// FileSpec is a file to write.
type FileSpec struct {
	Path string      `json:"path"`
	Data []byte      `json:"data"`
	Mode fs.FileMode `json:"mode"`
	// From, when set, names the previous step's file of the same kind (a
	// file-command file): it is renamed to Path and rewritten in place, so
	// that it is gone as GitHub's runner deletes it, and no inode is
	// allocated. Anything but a regular file with one link there is left
	// where it is and Path is created afresh.
	From string `json:"from,omitempty"`
}

// MaxCollect is the most collected content returned with an exec.
const MaxCollect = 256 << 10

// ExecResult is how a process ended.
type ExecResult struct {
	// ExitCode is the process's exit code, or -1 if a signal killed it.
	ExitCode int
	// Signal names the signal that killed the process ("SIGKILL"), if any.
	Signal string
	// Files holds the requested Collect files that exist, by path, when
	// CollectComplete; otherwise the caller reads them itself.
	Files           map[string][]byte
	CollectComplete bool
}

// Info describes the agent and the machine it runs on.
type Info struct {
	Version  string `json:"version"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	Hostname string `json:"hostname"`
	NumCPU   int    `json:"num_cpu"`
}

// InfraError reports that the infrastructure failed (transport broken, agent
// gone or failing), as opposed to a step that ran and failed. Callers retry
// the job elsewhere rather than failing it.
type InfraError struct {
	Op  string // the client method, e.g. "exec"
	Err error
}

func (e *InfraError) Error() string {
	return fmt.Sprintf("agent %s: infrastructure error: %v", e.Op, e.Err)
}

// Unwrap returns the underlying error.
func (e *InfraError) Unwrap() error { return e.Err }

// Header and trailer names of the protocol.
const (
	headerVersion  = "Hookci-Agent-Version"
	trailerExit    = "Hookci-Exit-Code"
	trailerSignal  = "Hookci-Signal"
	trailerFiles   = "Hookci-Files"
	agentURLPrefix = "http://hookci-agent"
)

// errorBody is the JSON body of every non-2xx response.
type errorBody struct {
	Error string `json:"error"`
}
