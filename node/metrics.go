package node

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/ftm-in-go/ftm/node/control"
	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

// nodeMetrics are a node's figures in a private Prometheus registry: the
// pair, STM banks and tasks are read when scraped; commits, full copies,
// takeovers, checkpoints and control requests are observed as they happen;
// the Go runtime and the process are the standard collectors'.
type nodeMetrics struct {
	rt    *nodeRuntime
	reg   *prometheus.Registry
	banks []string // the pair's two bank names: this node's and its partner's

	ckpts     prometheus.Counter
	ckptPages prometheus.Counter
	ckptBytes prometheus.Counter
	ckptDur   prometheus.Histogram

	commitDur   *prometheus.HistogramVec // by bank
	refused     *prometheus.CounterVec   // by bank
	copyDur     *prometheus.HistogramVec // by bank
	copyFailed  *prometheus.CounterVec   // by bank
	takeoverDur *prometheus.HistogramVec // by bank
	controlDur  *prometheus.HistogramVec // by route
	rpcDur      *prometheus.HistogramVec // by server, method and result
	hbRTT       prometheus.Histogram

	names sync.Map // *stm.Bank -> its name, once known

	mu     sync.Mutex // guards listen
	listen string     // where /metrics is served over HTTP ("" if not)
}

func newNodeMetrics(rt *nodeRuntime, partner string) *nodeMetrics {
	m := &nodeMetrics{rt: rt, reg: prometheus.NewRegistry(), banks: []string{rt.name, partner},
		ckpts: prometheus.NewCounter(prometheus.CounterOpts{Name: "ftm_checkpoints_total",
			Help: "Checkpoints of stable tasks taken on this node."}),
		ckptPages: prometheus.NewCounter(prometheus.CounterOpts{Name: "ftm_checkpoint_pages_total",
			Help: "Pages written by the checkpoints of stable tasks on this node."}),
		ckptBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "ftm_checkpoint_bytes_total",
			Help: "Bytes written by the checkpoints of stable tasks on this node."}),
		ckptDur: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ftm_checkpoint_duration_seconds",
			Help:    "Time a stable task was stopped for one checkpoint.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}),
		commitDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ftm_stm_commit_duration_seconds",
			Help:    "Time a commit that writes took from shipping its new versions to the backup to applying them (refused ones included).",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16)}, []string{"bank"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ftm_stm_bank_commits_refused_total",
			Help: "Commits refused because no backup held the bank (stm.ErrNoBackup)."}, []string{"bank"}),
		copyDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ftm_stm_state_transfer_duration_seconds",
			Help:    "Time a full copy of a bank to a new backup took (Bank.Attach), successful ones.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)}, []string{"bank"}),
		copyFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ftm_stm_state_transfer_failures_total",
			Help: "Full copies of a bank to a new backup that failed (the bank stays unprotected until one succeeds)."}, []string{"bank"}),
		takeoverDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ftm_pair_takeover_duration_seconds",
			Help:    "Time from the partner's last sign of life to its bank taken over and its in-doubt groups resolved.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}, []string{"bank"}),
		controlDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ftm_control_request_duration_seconds",
			Help:    "Time the node took to answer a request on its control socket (ftmctl), by route.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}, []string{"route"}),
		rpcDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ftm_rpc_duration_seconds",
			Help:    "Time a reliable server's call took, as this node's external clients (ftmctl call and kv, programs' Env.NewClient) saw it, retries included; result is ok or error.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}, []string{"server", "method", "result"}),
	}
	m.hbRTT = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ftm_pair_heartbeat_round_trip_seconds",
		Help:    "Time from a heartbeat sent to the partner to its echo back, over the pair link.",
		Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16)})
	m.reg.MustRegister(m.ckpts, m.ckptPages, m.ckptBytes, m.ckptDur, m.commitDur, m.refused, m.copyDur, m.copyFailed,
		m.takeoverDur, m.controlDur, m.rpcDur, m.hbRTT, &nodeCollector{rt: rt}, &ruCollector{rt: rt},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, b := range m.banks { // present at 0 before the first event
		m.refused.WithLabelValues(b)
		m.copyFailed.WithLabelValues(b)
		m.commitDur.WithLabelValues(b)
		m.copyDur.WithLabelValues(b)
	}
	m.takeoverDur.WithLabelValues(partner)
	return m
}

// observeCheckpoint counts a checkpoint log entry.
func (m *nodeMetrics) observeCheckpoint(e control.CkptEntry) {
	m.ckpts.Add(float64(e.Count))
	m.ckptPages.Add(float64(e.Pages))
	m.ckptBytes.Add(float64(e.Bytes))
	for range e.Count { // several checkpoints in one entry: each gets the mean
		m.ckptDur.Observe(e.Duration.Seconds() / float64(e.Count))
	}
}

// bankConfig is the stm configuration of the banks this node holds: it
// reports their commits and full copies here.
func (m *nodeMetrics) bankConfig() stm.Config {
	return stm.Config{OnCommit: m.observeCommit, OnAttach: m.observeAttach}
}

func (m *nodeMetrics) observeCommit(b *stm.Bank, d time.Duration, err error) {
	name := m.bankName(b)
	m.commitDur.WithLabelValues(name).Observe(d.Seconds())
	if errors.Is(err, stm.ErrNoBackup) {
		m.refused.WithLabelValues(name).Inc()
	}
}

func (m *nodeMetrics) observeAttach(b *stm.Bank, d time.Duration, err error) {
	name := m.bankName(b)
	if err != nil {
		m.copyFailed.WithLabelValues(name).Inc()
		return
	}
	m.copyDur.WithLabelValues(name).Observe(d.Seconds())
}

// observeTakeover records the takeover just completed of bank.
func (m *nodeMetrics) observeTakeover(bank string) {
	if t := m.rt.stable.Status().LastTakeover; t != nil && t.Bank == bank {
		m.takeoverDur.WithLabelValues(bank).Observe(t.Total.Seconds())
	}
}

// bankName names b: the bank of the pair that this node holds as b
// ("unknown" while it is being taken over and not yet held).
func (m *nodeMetrics) bankName(b *stm.Bank) string {
	if v, ok := m.names.Load(b); ok {
		return v.(string)
	}
	for _, n := range m.banks {
		if st := m.rt.stable; st != nil && st.Bank(n) == b {
			m.names.Store(b, n)
			return n
		}
	}
	return "unknown"
}

// observeHeartbeat records a heartbeat's round trip.
func (m *nodeMetrics) observeHeartbeat(d time.Duration) { m.hbRTT.Observe(d.Seconds()) }

// observeRPC times one call of a reliable server by an external client.
func (m *nodeMetrics) observeRPC(server, method string, d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.rpcDur.WithLabelValues(server, method, result).Observe(d.Seconds())
}

// timeControl measures each request that mux serves, by its route.
func (m *nodeMetrics) timeControl(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, route := mux.Handler(r)
		if route == "" {
			route = "unmatched"
		}
		start := time.Now()
		mux.ServeHTTP(w, r)
		m.controlDur.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

func (m *nodeMetrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *nodeMetrics) addr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.listen
}

func (m *nodeMetrics) families() ([]control.MetricFamily, error) {
	fams, err := m.reg.Gather()
	if err != nil {
		return nil, err
	}
	out := make([]control.MetricFamily, 0, len(fams))
	for _, f := range fams {
		mf := control.MetricFamily{Name: f.GetName(), Type: f.GetType().String(), Help: f.GetHelp()}
		for _, s := range f.GetMetric() {
			mf.Samples = append(mf.Samples, sampleOf(s))
		}
		out = append(out, mf)
	}
	return out, nil
}

func sampleOf(s *dto.Metric) control.MetricSample {
	ms := control.MetricSample{}
	if len(s.GetLabel()) > 0 {
		ms.Labels = map[string]string{}
		for _, l := range s.GetLabel() {
			ms.Labels[l.GetName()] = l.GetValue()
		}
	}
	switch {
	case s.Gauge != nil:
		ms.Value = s.GetGauge().GetValue()
	case s.Counter != nil:
		ms.Value = s.GetCounter().GetValue()
	case s.Histogram != nil:
		h := s.GetHistogram()
		ms.Value, ms.Count = h.GetSampleSum(), h.GetSampleCount()
		ms.Buckets = map[string]float64{}
		for _, b := range h.GetBucket() {
			ms.Buckets[fmt.Sprint(b.GetUpperBound())] = float64(b.GetCumulativeCount())
		}
	case s.Untyped != nil:
		ms.Value = s.GetUntyped().GetValue()
	}
	return ms
}

// nodeCollector reads the node's state at every scrape.
type nodeCollector struct{ rt *nodeRuntime }

var (
	descInfo        = prometheus.NewDesc("ftm_node_info", "The node: its name, partner and build (always 1).", []string{"node", "partner", "version"}, nil)
	descUptime      = prometheus.NewDesc("ftm_node_uptime_seconds", "Time since the node started.", nil, nil)
	descLinkUp      = prometheus.NewDesc("ftm_pair_link_up", "1 while the node is linked to its partner.", nil, nil)
	descEpoch       = prometheus.NewDesc("ftm_pair_epoch", "The pair epoch: incremented at every link loss.", nil, nil)
	descHeartbeat   = prometheus.NewDesc("ftm_pair_heartbeat_age_seconds", "Time since a frame last came from the partner; it keeps growing while the link is down (0 before the first frame).", nil, nil)
	descLosses      = prometheus.NewDesc("ftm_pair_partner_losses_total", "Times the partner was declared lost.", nil, nil)
	descJoins       = prometheus.NewDesc("ftm_pair_joins_total", "Times the partner linked.", nil, nil)
	descTakeovers   = prometheus.NewDesc("ftm_pair_takeovers_total", "Partner banks this node took over.", nil, nil)
	descLastTO      = prometheus.NewDesc("ftm_pair_last_takeover_seconds", "Duration of the last takeover, from the partner's last sign of life.", nil, nil)
	descRole        = prometheus.NewDesc("ftm_stm_bank_info", "A bank this node holds, with its role (own, taken-over, backup) (always 1).", []string{"bank", "role"}, nil)
	descObjects     = prometheus.NewDesc("ftm_stm_bank_objects", "Committed objects in a bank this node holds as primary.", []string{"bank"}, nil)
	descBytes       = prometheus.NewDesc("ftm_stm_bank_bytes", "Bytes of the committed objects in a bank this node holds as primary.", []string{"bank"}, nil)
	descCommits     = prometheus.NewDesc("ftm_stm_bank_commits_total", "Transactions committed in a bank since this node has held it.", []string{"bank"}, nil)
	descUnprotected = prometheus.NewDesc("ftm_stm_bank_unprotected", "1 while a primary bank has no backup attached, so its commits are refused.", []string{"bank"}, nil)
	descBackupReady = prometheus.NewDesc("ftm_stm_backup_ready", "1 once a backup bank holds a full copy and could take over.", []string{"bank"}, nil)
	descTasks       = prometheus.NewDesc("ftm_tasks", "Stable tasks on this node by state.", []string{"state"}, nil)
	descPartitioned = prometheus.NewDesc("ftm_fault_partitioned", "1 while ftmctl partition cuts the pair link.", nil, nil)
	descDelay       = prometheus.NewDesc("ftm_fault_link_delay_seconds", "Delay ftmctl slow adds to every frame this node sends.", nil, nil)
)

// Describe sends the descriptions of the node's figures.
func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInfo, descUptime, descLinkUp, descEpoch, descHeartbeat, descLosses, descJoins,
		descTakeovers, descLastTO, descRole, descObjects, descBytes, descCommits, descUnprotected, descBackupReady, descTasks,
		descPartitioned, descDelay} {
		ch <- d
	}
}

// Collect reads the node's state now.
func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	rt := c.rt
	s := rt.status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(descInfo, 1, s.Name, s.Partner, s.Version)
	gauge(descUptime, time.Since(s.StartedAt).Seconds())
	gauge(descLinkUp, b2f(s.Linked))
	gauge(descEpoch, float64(s.Epoch))
	gauge(descHeartbeat, heartbeatAge(rt.faults.LastRecv()))
	counter(descLosses, float64(s.LostCount))
	counter(descJoins, float64(s.JoinsCount))
	counter(descTakeovers, float64(s.STM.Takeovers))
	if t := s.STM.LastTakeover; t != nil {
		gauge(descLastTO, t.Total.Seconds())
	}
	for _, b := range s.STM.Banks {
		gauge(descRole, 1, b.Name, b.Role)
		if b.Role == pair.RoleBackup {
			gauge(descBackupReady, b2f(b.Ready), b.Name)
			continue
		}
		gauge(descUnprotected, b2f(b.CommitsRefused), b.Name)
		bank := rt.stable.Bank(b.Name)
		if bank == nil {
			continue
		}
		objs := bank.Objects()
		var size int
		for _, o := range objs {
			size += o.Size
		}
		gauge(descObjects, float64(len(objs)), b.Name)
		gauge(descBytes, float64(size), b.Name)
		counter(descCommits, float64(bank.Stats().Committed), b.Name)
	}
	states := map[string]int{task.StateRunning: 0, task.StateDone: 0, task.StateFailed: 0}
	for _, r := range rt.tasks.List() {
		states[r.State]++
	}
	for st, n := range states {
		gauge(descTasks, float64(n), st)
	}
	gauge(descPartitioned, b2f(s.Faults.Partitioned))
	gauge(descDelay, s.Faults.Delay.Seconds())
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// heartbeatAge is the time since lastRecv in seconds, 0 if never.
func heartbeatAge(lastRecv time.Time) float64 {
	if lastRecv.IsZero() {
		return 0
	}
	return time.Since(lastRecv).Seconds()
}
