package agent

// Layout is the guest's view of a job: the absolute paths of its
// directories as the agent (and therefore every step) sees them, and the
// PATH its processes start with. The backend that starts the agent fills it
// in; the runner builds every path it sends the agent from it. ToolCache is
// empty when none is exposed.
type Layout struct {
	Workspace string // writable; the job's checkout goes here
	Temp      string // writable; RUNNER_TEMP
	ToolCache string // read-only; RUNNER_TOOL_CACHE
	Home      string // writable; HOME
	// Path is the PATH a step's processes start with; "" means the guest
	// image's standard one. The host backend, whose processes run on the
	// server's own system, gives the server's PATH.
	Path string
	// Node is the node binary JavaScript actions run with; "" means `node`
	// from Path. A job container has none of its own: the sandbox's node is
	// bound into it (at /__e/node20/bin/node, where GitHub's runner puts its
	// own, as a self-contained bundle: package nodebundle) and named here.
	Node string
	// NoNode says why a job container has no Node (the sandbox could not
	// provide one); "" when it has one or none was asked for.
	NoNode string
}

// GuestNodeBundle is where a guest image holds the self-contained node that
// the microVM binds into job containers (package nodebundle; the image
// build puts it there). The guest's init binds it from the read-only root
// disk over the overlay root.
const GuestNodeBundle = "/usr/lib/hookci/node-bundle"
