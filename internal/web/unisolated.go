package web

// UnisolatedBanner starts the warning a run page shows when any of its jobs
// ran on the host backend.
const UnisolatedBanner = "This run was not isolated"

// Unisolated names the jobs of the run that ran on the host backend: as the
// server's user, able to read and change the server's files. The run page
// shows a warning when there are any.
func (v *RunView) Unisolated() []string {
	var out []string
	for _, j := range v.Jobs {
		if j.Backend == "host" {
			out = append(out, j.Name)
		}
	}
	return out
}
