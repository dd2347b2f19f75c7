package web

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookci/hookci/internal/store"
)

// apiHosts lists the host registry: every hookci server sharing the store,
// its labels and job slots, when it was last heard of and whether that is
// within the lease. Hosts are no repository's data: any signed-in reader
// may see them.
func (s *Server) apiHosts(w http.ResponseWriter, r *http.Request) {
	hosts, err := s.st.Queries().Hosts(r.Context())
	if err != nil {
		s.log.Error("listing hosts", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if hosts == nil {
		hosts = []store.Host{}
	}
	writeJSON(w, hosts)
}

// hostsPage shows the host registry: each server sharing the store, whether
// it is alive (heard of within the lease), its labels, job slots, start and
// last heartbeat.
func (s *Server) hostsPage(w http.ResponseWriter, r *http.Request) {
	hosts, err := s.st.Queries().Hosts(r.Context())
	if err != nil {
		s.log.Error("listing hosts", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	alive, slots := 0, 0
	for _, h := range hosts {
		if h.Alive {
			alive++
			slots += h.MaxJobs
		}
	}
	s.page(w, r, "hosts.html", "Hosts", struct {
		Hosts        []store.Host
		Alive, Slots int
	}{hosts, alive, slots})
}

// hostGauges reports the registry at each scrape: hookci_hosts{state} (alive
// or dead, a fixed set) and hookci_host_job_slots (the live hosts' slots).
type hostGauges struct {
	st           *store.Store
	hosts, slots *prometheus.Desc
}

// RegisterHostGauges adds the host registry's gauges to m.
func RegisterHostGauges(m *Metrics, st *store.Store) error {
	if m == nil || st == nil {
		return nil
	}
	return m.Registry.Register(&hostGauges{st: st,
		hosts: prometheus.NewDesc("hookci_hosts", "Hosts in the registry, by state (alive: heard of within the lease).", []string{"state"}, nil),
		slots: prometheus.NewDesc("hookci_host_job_slots", "Job slots of the alive hosts (sum of their HOOKCI_MAX_JOBS).", nil, nil),
	})
}

func (g *hostGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.hosts
	ch <- g.slots
}

func (g *hostGauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hosts, err := g.st.Queries().Hosts(ctx)
	if err != nil {
		return // the scrape shows the gauges missing; the store's error is logged elsewhere
	}
	alive, dead, slots := 0, 0, 0
	for _, h := range hosts {
		if h.Alive {
			alive++
			slots += h.MaxJobs
		} else {
			dead++
		}
	}
	ch <- prometheus.MustNewConstMetric(g.hosts, prometheus.GaugeValue, float64(alive), "alive")
	ch <- prometheus.MustNewConstMetric(g.hosts, prometheus.GaugeValue, float64(dead), "dead")
	ch <- prometheus.MustNewConstMetric(g.slots, prometheus.GaugeValue, float64(slots))
}
