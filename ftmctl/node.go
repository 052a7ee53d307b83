package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	ifailpoint "github.com/ftm-in-go/ftm/internal/failpoint"
	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/kernel/heartbeat"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

func newNodeCmd() *cobra.Command {
	var dir, name, metricsAddr string
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run one node of a pair in the foreground (ftmctl pair up starts two)",
		Long: `node runs one node of the pair described by DIR/pair.json: it links to its
partner over authenticated TCP on 127.0.0.1, watches it with heartbeats, and
serves the control socket DIR/NAME.sock that the other ftmctl commands use
(each request must carry a token derived from DIR/secret). With
--metrics-addr it also serves its figures in the Prometheus text format at
http://ADDR/metrics (loopback addresses only; port 0 picks a free port, shown
by 'ftmctl status'). It logs JSON lines to stderr. SIGTERM or SIGINT stops it
cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkLoopback(metricsAddr); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return runNode(ctx, dir, name, metricsAddr)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", defaultDir(), "the pair's state directory")
	cmd.Flags().StringVar(&name, "name", "", "this node's name (one of the pair's nodes)")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus metrics on this loopback address (e.g. 127.0.0.1:0)")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newNodeLogger() (*zap.Logger, error) {
	cfg := zap.NewProductionConfig()
	cfg.Sampling = nil
	cfg.OutputPaths = []string{"stderr"}
	return cfg.Build()
}

// nodeSetup is what a node reads from the pair's directory.
type nodeSetup struct {
	self, partner *nodeState
	secret        []byte
	heartbeat     time.Duration
	allowFaults   bool
}

func loadNodeSetup(dir, name string) (*nodeSetup, error) {
	st, err := loadPair(dir)
	if err != nil {
		return nil, err
	}
	ns := &nodeSetup{allowFaults: st.AllowFaults}
	if ns.self, err = st.node(name); err != nil {
		return nil, err
	}
	if ns.partner, err = st.partner(name); err != nil {
		return nil, err
	}
	if ns.secret, err = readOrCreateSecret(dir); err != nil {
		return nil, err
	}
	if ns.heartbeat, err = time.ParseDuration(st.Heartbeat); err != nil {
		ns.heartbeat = heartbeat.DefaultPeriod
	}
	return ns, nil
}

func runNode(ctx context.Context, dir, name, metricsAddr string) error {
	ns, err := loadNodeSetup(dir, name)
	if err != nil {
		return err
	}
	self, partner, secret, hb := ns.self, ns.partner, ns.secret, ns.heartbeat
	log, err := newNodeLogger()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	rt := &nodeRuntime{name: name, allowFaults: ns.allowFaults, faults: link.NewFaults(), log: log, started: time.Now()}
	links := nodeLinks{name: name, secret: secret, faults: rt.faults, log: log}
	lis, err := links.listen(self.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", self.Addr, err)
	}
	defer lis.Close()
	rt.kernel = kernel.NewNode(kernel.Config{Name: name, Logger: log})
	defer rt.kernel.Shutdown()
	if err := rt.startControlTask(); err != nil {
		return err
	}
	fp := ifailpoint.Arm(os.Getenv(ifailpoint.EnvVar), name, log) // crash tests only: kill or stall this process
	rt.tasks = task.NewServer(ctx, task.ServerConfig{Node: name, Programs: withEditor(rt, programs()), Policy: taskPolicy, Logger: log, Failpoint: fp})
	defer rt.tasks.Wait()
	rt.servers = newReliableServers(name, rt.kernel, log) // reliable.go
	if rt.stable, err = rt.newStable(partner.Name, fp); err != nil {
		return err
	}
	defer rt.stable.Close() // after n.Run has returned
	rt.pair, err = pair.New(pair.Config{
		Name: name, PartnerName: partner.Name, PartnerAddr: partner.Addr,
		Heartbeat: heartbeat.Config{Period: hb},
		Listener:  lis,
		Dial:      links.dialer(),
		Logger:    log,
		Hooks:     pair.ChainHooks(kernelHooks(rt.kernel, log), rt.stable.Hooks()),
	})
	if err != nil {
		return err
	}
	defer rt.servers.start(ctx, rt.stable)() // stopped before the banks close
	stopObservers, err := rt.observe(ctx, dir, secret, metricsAddr)
	if err != nil {
		return err
	}
	defer stopObservers()
	log.Info("node started", zap.Int("pid", os.Getpid()), zap.String("addr", self.Addr), zap.String("partner", partner.Name),
		zap.String("metrics", rt.metrics.addr()))
	err = rt.pair.Run(ctx)
	log.Info("node stopping", zap.Error(err))
	return err
}

// newStable returns the node's stable banks: a bank taken over resumes its
// stable tasks and wakes its servers; a bank dropped stops them.
func (rt *nodeRuntime) newStable(partner string, fp failpoint.Hook) (*pair.Stable, error) {
	return pair.NewStable(pair.StableConfig{Name: rt.name, PartnerName: partner, Logger: rt.log, Failpoint: fp,
		Defer: rt.servers.deferGroups, // in-doubt checkpoint groups of server units: decided by their drivers
		OnTakeover: func(ctx context.Context, bank string, b *stm.Bank) {
			rt.tasks.Resume(ctx, task.Bank{Name: bank, STM: b})
			rt.servers.poke()
		},
		OnDrop: func(_ context.Context, _ string, b *stm.Bank) { rt.tasks.Abandon(b); rt.servers.drop(b) }})
}

// observe starts what operators look through: the checkpoint log, the
// metrics (also over HTTP when metricsAddr is set) and the control socket
// DIR/NODE.sock. The function returned stops the endpoints.
func (rt *nodeRuntime) observe(ctx context.Context, dir string, secret []byte, metricsAddr string) (func(), error) {
	rt.ckpts = newCkptLog(rt.name, ckptLogSize)
	rt.servers.logCkpt = rt.ckpts.addRU
	rt.metrics = newNodeMetrics(rt)
	go rt.ckpts.run(ctx, rt.tasks.List, rt.metrics.observeCheckpoint)
	stopMetrics := func() {}
	if metricsAddr != "" {
		stop, err := rt.metrics.serve(metricsAddr)
		if err != nil {
			return nil, err
		}
		stopMetrics = stop
	}
	stopControl, err := serveControl(filepath.Join(dir, rt.name+".sock"), secret, rt, rt.log)
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

// nodeStatus is what a node's control socket answers to GET /status.
type nodeStatus struct {
	pair.Status
	PID     int    `json:"pid"`
	Version string `json:"version"`
	// STM: the banks this node holds (own, taken over, partner's backup)
	// and its takeovers. A bank commits only while its backup is attached.
	STM *pair.StableStatus `json:"stm,omitempty"`
	// HeartbeatAge: time since a frame last came from the partner (its
	// heartbeats keep it under one period while the link is healthy).
	HeartbeatAge time.Duration `json:"heartbeat_age,omitempty"`
	// Faults switched on by ftmctl partition or slow, and whether the pair
	// allows them.
	Faults      link.FaultState `json:"faults"`
	AllowFaults bool            `json:"allow_faults"`
	// MetricsAddr is where the node serves /metrics over HTTP, if it does.
	MetricsAddr string `json:"metrics_addr,omitempty"`
}

// serveControl serves the node's control endpoint on a Unix socket that only
// the pair's owner can reach (the directory is 0700, the socket 0600); every
// request must carry the token derived from the pair's secret.
func serveControl(path string, secret []byte, rt *nodeRuntime, log *zap.Logger) (func(), error) {
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
	rt.routes(mux)
	editRoutes(mux)
	srv := &http.Server{Handler: requireToken(secret, rt.name, mux), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("control socket failed", zap.Error(err))
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = os.Remove(path)
	}, nil
}
