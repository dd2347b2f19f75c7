package sandbox

// Origin is who a job comes from, as far as choosing its sandbox goes: the
// repository ("owner/name") whose workflow it runs, and whether it runs
// code of a pull request from a fork (untrusted: never on the host).
type Origin struct {
	Repo string
	Fork bool
}

// Choice is the sandbox chosen for a job's runs-on labels.
type Choice struct {
	Name      string // backend: host, namespace, microvm, firecracker
	Label     string // the runs-on label that chose it ("" for the default backend)
	CPUs      int    // 0 = backend default
	MemoryMiB int    // 0 = backend default
	Network   bool   // egress granted
}
