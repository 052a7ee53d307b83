package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/cluster"
	"github.com/ftm-in-go/ftm/internal/takeoverid"
	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/kernel/heartbeat"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/kernel/link/linkcert"
	"github.com/ftm-in-go/ftm/node/control"
	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

// Config is one node of a pair, as Run starts it.
type Config struct {
	// Dir is the pair's directory: pair.json names the two nodes and
	// their link addresses, secret the pair's shared secret.
	Dir string
	// Name is this node's name (one of pair.json's nodes).
	Name string
	// MetricsAddr, when set, is a loopback address where the node serves
	// its figures in the Prometheus text format (port 0: a free port).
	MetricsAddr string
	// WebConfigFile, when set, is an exporter-toolkit web configuration
	// file (TLS, basic auth) for the metrics address, which may then be
	// off the loopback.
	WebConfigFile string
	// Logger gets the node's logs (nil: none); Run adds the node's name.
	Logger *zap.Logger
	// Witness (the binary's --witness): run the pair's witness, not a
	// node (RunWitness); Name is then not needed.
	Witness bool
	// Listen, when set, is the address the node's link listens on (all
	// interfaces, another host's address); by default its address in
	// pair.json, which is also where its partner dials it.
	Listen string
	// LinkCerts names the node's certificate files for its links' mutual
	// TLS; an empty field takes its default, linkcert.NodePaths(Dir, Name)
	// (`ftmctl pair up` makes them).
	LinkCerts linkcert.Paths
	// PlainLinks runs the links without TLS, authenticated by the pair's
	// secret alone and unencrypted: only when asked (the benchmarks' plain
	// figure, a trusted network).
	PlainLinks bool
}

// setup is what a node reads from the pair's directory.
type setup struct {
	self, partner *control.NodeState
	peers         []control.NodeState // every other node (a pair: the partner)
	voters        []cluster.Peer      // the group's voters; nil: no group
	secret        []byte
	tls           *link.TLS // the node's link identity; nil: plain links
	heartbeat     time.Duration
	allowFaults   bool
}

func loadSetup(dir, name string) (*setup, error) {
	st, err := control.LoadPair(dir)
	if err != nil {
		return nil, err
	}
	ns := &setup{allowFaults: st.AllowFaults, voters: st.Voters()}
	if ns.self, err = st.Node(name); err != nil {
		return nil, err
	}
	if ns.partner, err = st.Partner(name); err != nil {
		return nil, err
	}
	ns.peers = st.Peers(name)
	if ns.secret, err = control.ReadOrCreateSecret(dir); err != nil {
		return nil, err
	}
	if ns.heartbeat, err = time.ParseDuration(st.Heartbeat); err != nil {
		ns.heartbeat = heartbeat.DefaultPeriod
	}
	return ns, nil
}

// Run runs the node cfg names, carrying regs, until ctx ends or the
// node fails: it links to its partner, watches it with heartbeats, holds
// its own bank and backs up the partner's, takes the partner's bank over
// when it dies (resuming its stable tasks and reliable servers), and
// serves the control socket DIR/NAME.sock. It returns nil once stopped by
// ctx.
func Run(ctx context.Context, cfg Config, regs ...Registration) error {
	reg, err := newRegistry(regs)
	if err != nil {
		return err
	}
	if err := cfg.metricsServer().check(); err != nil {
		return err
	}
	ns, err := loadSetup(cfg.Dir, cfg.Name)
	if err != nil {
		return err
	}
	if ns.tls, err = cfg.linkTLS(); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	rt := &nodeRuntime{name: cfg.Name, version: reg.version, allowFaults: ns.allowFaults, faults: link.NewFaults(),
		base: log, log: log.With(zap.String("node", cfg.Name)), started: time.Now(), ctx: ctx}
	rt.metrics = newNodeMetrics(rt, ns.partner.Name)
	for _, p := range ns.peers {
		rt.clusterPeers = append(rt.clusterPeers, p.Name)
	}
	return rt.run(ctx, cfg, ns, reg)
}

func (cfg Config) metricsServer() metricsServer {
	return metricsServer{addr: cfg.MetricsAddr, webConfig: cfg.WebConfigFile}
}

// run starts the node's parts in order and stops them in reverse.
func (rt *nodeRuntime) run(ctx context.Context, cfg Config, ns *setup, reg *registry) error {
	log, name := rt.base, rt.name // the kernel, pair and stm name the node in their logs
	links := nodeLinks{name: name, partner: ns.partner.Name, secret: ns.secret, tls: ns.tls, faults: rt.faults, log: rt.log}
	lis, err := links.forListener(len(ns.peers)).listen(cfg.listenAddr(ns))
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.listenAddr(ns), err)
	}
	defer lis.Close()
	rt.kernel = kernel.NewNode(kernel.Config{Name: name, Logger: log})
	defer rt.kernel.Shutdown()
	if err := rt.startControlTask(); err != nil {
		return err
	}
	fp := reg.armFailpoints(name, log) // crash tests only: kill or stall this process
	env := Env{Node: name, Logger: rt.log, Bank: func(b string) *stm.Bank { return rt.stable.Bank(b) }, NewClient: rt.newClient}
	rt.servers = newReliableServers(name, rt.kernel, rt.log, reg.servers) // reliable.go
	// POST /call's external clients, made here so that their calls are
	// timed (reliable.go makes them untimed when it finds none).
	rt.servers.ext = &externalClients{node: name, kernel: rt.kernel, log: rt.log, observe: rt.metrics.observeRPC}
	var units task.Units = rt.servers // stable tasks are recovery units on their bank's driver
	if reg.fpSpec != "" && !serversPointsOnly(reg.fpSpec) {
		rt.servers.turnOff("failpoints of STM or the pair are armed (the servers' STM commits would shift their hit counts)")
		units = nil // tasks checkpoint into STM directly, as the failpoints' counts expect
	} else {
		rt.servers.fail = fp // the drivers' failpoints (servers.FP*, ru.FP*)
	}
	rt.tasks = task.NewServer(ctx, task.ServerConfig{Node: name, Programs: reg.taskPrograms(env), Args: reg.taskArgs(),
		Restart: reg.taskRestarts(), Policy: control.DefaultPolicy, Logger: rt.log, Failpoint: fp, Units: units})
	defer rt.tasks.Wait()
	rt.publish = newPublishedTasks(name, rt.kernel, rt.log, reg.pubs)
	stopStable, err := rt.startStable(ctx, cfg.Dir, ns, fp) // group.go
	if err != nil {
		return err
	}
	defer stopStable() // after the pair has stopped
	rt.group.join(ctx, cluster.Member{Name: name, Addr: consensusAddr(ns, name)}, rt.log)
	nodes, err := rt.startLinks(linkSpec{ns: ns, lis: lis, links: links}) // cluster.go: one pair Node per peer
	if err != nil {
		return err
	}
	defer rt.servers.start(ctx, rt.stable)() // stopped before the banks close
	defer rt.publish.start(ctx, rt.stable)() // published.go; stopped before the banks close
	stopObservers, err := rt.observe(ctx, observeConfig{dir: cfg.Dir, secret: ns.secret, metrics: cfg.metricsServer(), routes: reg.routes})
	if err != nil {
		return err
	}
	defer stopObservers()
	rt.log.Info("node started", zap.Int("pid", os.Getpid()), zap.String("addr", ns.self.Addr), zap.String("listen", cfg.listenAddr(ns)),
		zap.Bool("tls", ns.tls != nil), zap.String("partner", ns.partner.Name), zap.String("metrics", rt.metrics.addr()))
	err = nodes.run(ctx)
	rt.log.Info("node stopping", zap.Error(err))
	return err
}

// newStable returns the node's stable banks: a bank taken over resumes its
// stable tasks and wakes its servers; a bank dropped stops them.
func (rt *nodeRuntime) newStable(partner string, fp failpoint.Hook) (*pair.Stable, error) {
	return pair.NewStable(pair.StableConfig{Name: rt.name, PartnerName: partner, Logger: rt.base, Failpoint: fp,
		Bank:      rt.metrics.bankConfig(),
		Leases:    rt.group.leases(), // nil without a group
		Peers:     rt.clusterPeers,   // a cluster's other nodes (cluster.go); nil for a pair
		Placement: rt.group.placement(len(rt.clusterPeers) > 1),
		Defer:     rt.servers.deferGroups, // in-doubt checkpoint groups of server units: decided by their drivers
		OnTakeover: func(ctx context.Context, bank string, b *stm.Bank) {
			rt.metrics.observeTakeover(bank)
			rt.tasks.Resume(ctx, task.Bank{Name: bank, STM: b})
			rt.publish.takeover(ctx, bank, b)
			rt.servers.tookOver(bank, takeoverid.FromContext(ctx))
		},
		OnDrop: func(_ context.Context, _ string, b *stm.Bank) {
			rt.tasks.Abandon(b)
			rt.servers.drop(b)
			rt.publish.drop(b)
		},
		PartnerGone: rt.peerGone, // a lost peer proven gone is taken over at once (gone.go)
	})
}

// observeConfig is where the node shows itself: its directory (for the
// control socket), the pair's secret, the metrics server and the routes
// registered.
type observeConfig struct {
	dir     string
	metrics metricsServer
	secret  []byte
	routes  []func(*http.ServeMux)
}

// observe starts what operators look through: the checkpoint log, the
// metrics (also over HTTP when metricsAddr is set) and the control socket
// DIR/NODE.sock. The function returned stops the endpoints.
func (rt *nodeRuntime) observe(ctx context.Context, oc observeConfig) (func(), error) {
	rt.ckpts = newCkptLog(rt.name, ckptLogSize)
	rt.servers.logCkpt = rt.ckpts.addRU
	go rt.ckpts.run(ctx, rt.tasks.List, rt.metrics.observeCheckpoint)
	stopMetrics := func() {}
	if oc.metrics.addr != "" {
		stop, err := rt.metrics.serve(oc.metrics)
		if err != nil {
			return nil, err
		}
		stopMetrics = stop
	}
	stopControl, err := rt.serveControl(filepath.Join(oc.dir, rt.name+".sock"), oc.secret, oc.routes)
	if err != nil {
		stopMetrics()
		return nil, err
	}
	return func() { stopControl(); stopMetrics() }, nil
}

// kernelHooks attaches the kernel's netmsg service to each new partner link.
func kernelHooks(k *kernel.Node, log *zap.Logger) pair.Hooks {
	return pair.Hooks{
		PartnerJoined: func(_ context.Context, mux *link.Mux, _ uint64) {
			ports, err := mux.Channel(link.ServicePorts)
			if err == nil {
				err = k.AttachLink(ports)
			}
			if err != nil {
				log.Error("cannot serve ports on the partner link", zap.Error(err))
			}
		},
	}
}

// serveControl serves the node's control endpoint on a Unix socket that only
// the pair's owner can reach (the directory is 0700, the socket 0600); every
// request must carry the token derived from the pair's secret.
func (rt *nodeRuntime) serveControl(path string, secret []byte, routes []func(*http.ServeMux)) (func(), error) {
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, rt.status()) })
	taskRoutes(rt.name, rt.stable, rt.tasks)(mux)
	stopTaskRoute(rt.name, rt.tasks)(mux)
	rt.publish.routes(mux)
	rt.routes(mux)
	for _, add := range routes {
		add(mux)
	}
	srv := &http.Server{Handler: control.RequireToken(secret, rt.name, rt.metrics.timeControl(mux)), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			rt.log.Error("control socket failed", zap.Error(err))
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = os.Remove(path)
	}, nil
}
