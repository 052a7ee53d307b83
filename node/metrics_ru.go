package node

import (
	"github.com/prometheus/client_golang/prometheus"
)

// ruCollector reads the node's reliable servers at every scrape.
type ruCollector struct{ rt *nodeRuntime }

var (
	descRUUnits = prometheus.NewDesc("ftm_ru_units", "Recovery units of the reliable servers this node runs, by bank and protocol phase (running, building, precommitted, down).",
		[]string{"bank", "phase"}, nil)
	descRUInc = prometheus.NewDesc("ftm_ru_incarnation", "Current recovery unit (incarnation) of each unit: it grows by one at every commit or abort.",
		[]string{"unit"}, nil)
	descRUEdges = prometheus.NewDesc("ftm_ru_dependencies", "Dependency edges between recovery units that a bank's units know of.", []string{"bank"}, nil)
	descRUMsgs  = prometheus.NewDesc("ftm_ru_protocol_messages_total", "Checkpoint and recovery protocol messages sent by a bank's driver since it started on this node.",
		[]string{"bank"}, nil)
	descRUEnvs = prometheus.NewDesc("ftm_ru_protocol_envelopes_total", "Kernel messages carrying them (several protocol messages are batched in one).",
		[]string{"bank"}, nil)
)

// Describe sends the descriptions of the recovery units' figures.
func (c *ruCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRUUnits, descRUInc, descRUEdges, descRUMsgs, descRUEnvs} {
		ch <- d
	}
}

// Collect reads the reliable servers now.
func (c *ruCollector) Collect(ch chan<- prometheus.Metric) {
	if c.rt.servers == nil {
		return
	}
	for _, h := range c.rt.servers.inspect().Hosts {
		if !h.Running {
			continue
		}
		phases := map[string]int{"running": 0, "building": 0, "precommitted": 0, "down": 0}
		for _, u := range h.Units {
			p := u.Phase
			if !u.Up {
				p = "down"
			}
			phases[p]++
			ch <- prometheus.MustNewConstMetric(descRUInc, prometheus.GaugeValue, float64(u.Inc), u.Unit)
		}
		for p, n := range phases {
			ch <- prometheus.MustNewConstMetric(descRUUnits, prometheus.GaugeValue, float64(n), h.Bank, p)
		}
		ch <- prometheus.MustNewConstMetric(descRUEdges, prometheus.GaugeValue, float64(len(h.Edges)), h.Bank)
		ch <- prometheus.MustNewConstMetric(descRUMsgs, prometheus.CounterValue, float64(h.Msgs), h.Bank)
		ch <- prometheus.MustNewConstMetric(descRUEnvs, prometheus.CounterValue, float64(h.Envelopes), h.Bank)
	}
}
