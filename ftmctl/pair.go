package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/kernel/heartbeat"
	"github.com/ftm-in-go/ftm/kernel/link/linkcert"
)

func newPairCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "pair",
		Example: `  ftmctl pair up && ftmctl status
  ftmctl pair down`,
		Short: "Start and stop a stable node pair (two node processes)",
	}
	cmd.AddCommand(newPairUpCmd(), newPairDownCmd())
	return cmd
}

type pairUpOptions struct {
	dir         string
	names       []string
	addrs       []string // the nodes' link addresses, in names' order ("": 127.0.0.1, a free port each)
	allowFaults bool
	heartbeat   time.Duration
	wait        time.Duration
	metricsAddr string
	webConfig   string // exporter-toolkit web configuration for the metrics address (absolute once checked)
	exec        string // the node binary ("": the default one next to ftmctl)
	noWitness   bool   // start no witness: the pair runs without a group (witness.go)
	cluster     bool   // cluster up: three or more nodes, one fewer witness (cluster.go)
}

func newPairUpCmd() *cobra.Command {
	o := pairUpOptions{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start both nodes of a pair in the background",
		Long: `up starts two node processes in the background, each primary for its own
work and backup for its partner's, linked over mutual TLS on 127.0.0.1 (or on
the --addrs given). Their state, secret, logs and link certificates (a CA of
the pair's own and one certificate per node, in DIR/tls, mode 0600) live in
--dir (default .ftm, or $FTM_DIR); 'ftmctl pair down' stops them. Run against a
pair whose node was killed, up restarts that node and it rejoins its partner.

The nodes run the node binary --exec names (any binary whose main calls
node.Main, carrying its own programs and servers), or by default ftmnode,
the binary of examples/ftmnode next to ftmctl (make build puts both in
bin/). The path is kept in DIR/pair.json, so a restart runs the same one.

up returns once the pair is ready: both nodes linked, every bank backed up
and every node's reliable servers answering. A node that exits first, or a
pair still not ready after --wait, fails it (exit 1) with the cause from the
node's log. --wait 0 returns at once ('ftmctl wait ready' waits later).`,
		Example: `  ftmctl pair up --allow-faults && ftmctl kv add visits 1
  ftmctl pair up --nodes a,b --dir /tmp/p --metrics-addr 127.0.0.1:9100
  ftmctl pair up --addrs 127.0.0.2,127.0.0.3:7100   # each node on its own address
  ftmctl pair up --metrics-addr 0.0.0.0:9100 --web-config-file web.yml   # TLS, basic auth
  ftmctl pair up --wait 0 && ftmctl wait ready --timeout 1m
  ftmctl crash alpha; ftmctl pair up      # restart alpha; it rejoins as backup`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return pairUp(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", defaultDir(), "state and log directory")
	f.StringSliceVar(&o.names, "nodes", []string{"alpha", "beta"}, "the two node names")
	f.StringSliceVar(&o.addrs, "addrs", nil, "the nodes' link addresses, in --nodes order: HOST or HOST:PORT, a local address each (default 127.0.0.1; no port or port 0: a free one)")
	f.BoolVar(&o.allowFaults, "allow-faults", false, "allow fault injection (ftmctl crash, partition, slow)")
	f.DurationVar(&o.heartbeat, "heartbeat", heartbeat.DefaultPeriod, "heartbeat period between the nodes (silence for 20 periods means death)")
	f.DurationVar(&o.wait, "wait", defaultReadyWait, "how long to wait until the pair is ready: linked, every bank backed up, servers answering (0: return at once)")
	f.StringVar(&o.exec, "exec", "", "the node binary the nodes run (default: "+defaultNodeBinary+" next to ftmctl)")
	f.BoolVar(&o.noWitness, "no-witness", false, "start no witness: without the group's third vote, a node whose partner died refuses commits until it is back")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus metrics over HTTP on this loopback address (port 0: each node picks one; port P: the nodes take P and P+1)")
	f.StringVar(&o.webConfig, "web-config-file", "", "exporter-toolkit web configuration (TLS, basic auth) for --metrics-addr, which may then be off the loopback")
	return cmd
}

func pairUp(cmd *cobra.Command, o pairUpOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	if err := o.checkMetrics(); err != nil {
		return err
	}
	prev, err := existingPair(o.dir)
	if err != nil {
		return err
	}
	if prev != nil {
		if err := linkcert.Create(o.dir, pairNodeNames(prev)...); err != nil { // a pair made before links had TLS
			return err
		}
		if err := restartDead(cmd, o.dir, prev); err != nil {
			return err
		}
		return awaitUp(cmd, o)
	}
	exe, err := nodeBinary(o.exec)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return err
	}
	if _, err := readOrCreateSecret(o.dir); err != nil {
		return fmt.Errorf("pair secret: %w", err)
	}
	if err := linkcert.Create(o.dir, o.names...); err != nil {
		return err
	}
	st, err := planPair(o, exe)
	if err != nil {
		return err
	}
	if err := startProcesses(o.dir, exe, st); err != nil {
		return err
	}
	for _, n := range st.Nodes {
		fmt.Fprintf(cmd.OutOrStdout(), "node %-8s pid %-7d link %s  log %s\n", n.Name, n.PID, n.Addr, n.Log)
	}
	printWitness(cmd.OutOrStdout(), st)
	return awaitUp(cmd, o)
}

// planPair is the new pair's state: its nodes' addresses and logs, and
// its witness unless --no-witness; it is saved before anything starts.
func planPair(o pairUpOptions, exe string) (*pairState, error) {
	st := &pairState{AllowFaults: o.allowFaults, Heartbeat: o.heartbeat.String(), Created: time.Now().UTC(), Exec: exe}
	for i, name := range o.names {
		addr, err := o.linkAddr(i)
		if err != nil {
			return nil, err
		}
		metrics, err := nthAddr(o.metricsAddr, i)
		if err != nil {
			return nil, err
		}
		st.Nodes = append(st.Nodes, nodeState{Name: name, Addr: addr, Log: filepath.Join(o.dir, name+".log"), MetricsAddr: metrics, WebConfigFile: o.webConfig})
	}
	if !o.noWitness {
		if err := planWitness(o.dir, st); err != nil {
			return nil, err
		}
		if o.cluster {
			if err := planMoreWitnesses(o.dir, st); err != nil {
				return nil, err
			}
		}
	}
	return st, savePair(o.dir, st)
}

// startProcesses starts the witness and the nodes of st and saves their PIDs.
func startProcesses(dir, exe string, st *pairState) error {
	if _, err := startWitnesses(dir, exe, st); err != nil {
		return err
	}
	for i := range st.Nodes {
		pid, err := startNode(dir, exe, &st.Nodes[i])
		if err != nil {
			return err
		}
		st.Nodes[i].PID = pid
	}
	return savePair(dir, st)
}

// restartDead starts again the nodes of a running pair that died, so they
// rejoin their partner; with both nodes alive there is nothing to do.
func restartDead(cmd *cobra.Command, dir string, st *pairState) error {
	exe, err := nodeBinary(st.Exec)
	if err != nil {
		return err
	}
	restarted := 0
	started, err := startWitnesses(dir, exe, st)
	if err != nil {
		return err
	}
	for _, w := range started {
		restarted++
		fmt.Fprintf(cmd.OutOrStdout(), "witness %-5s pid %-7d restarted\n", w.Name, w.PID)
	}
	for i := range st.Nodes {
		n := &st.Nodes[i]
		if nodeAlive(n) {
			continue
		}
		pid, err := startNode(dir, exe, n)
		if err != nil {
			return err
		}
		n.PID = pid
		restarted++
		fmt.Fprintf(cmd.OutOrStdout(), "node %-8s pid %-7d restarted; it rejoins its partner\n", n.Name, n.PID)
	}
	if restarted == 0 {
		return fmt.Errorf("the pair in %s is already up (stop it with `ftmctl pair down --dir %s`)", dir, dir)
	}
	return savePair(dir, st)
}

// defaultNodeBinary is the node binary pair up runs without --exec: the
// demos' (examples/ftmnode), looked for next to ftmctl.
const defaultNodeBinary = "ftmnode"

// nodeBinary is the absolute path of the node binary to run: exe, or the
// default one next to ftmctl when exe is empty; it must exist.
func nodeBinary(exe string) (string, error) {
	if exe == "" {
		self, err := os.Executable()
		if err != nil {
			return "", err
		}
		exe = filepath.Join(filepath.Dir(self), defaultNodeBinary)
		if _, err := os.Stat(exe); err != nil {
			return "", fmt.Errorf("no node binary %s next to ftmctl (build it: go build -o %s ./examples/ftmnode; or pass --exec PATH)", exe, exe)
		}
	}
	abs, err := filepath.Abs(exe)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(abs); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("--exec %s: not an executable file", exe)
	}
	return abs, nil
}

// startNode starts the node binary exe for n in its own session, so it
// outlives this command and a Ctrl-C in the user's terminal does not
// reach it.
func startNode(dir, exe string, n *nodeState) (int, error) {
	args := []string{"--dir", dir, "--name", n.Name}
	if n.MetricsAddr != "" {
		args = append(args, "--metrics-addr", n.MetricsAddr)
	}
	if n.WebConfigFile != "" {
		args = append(args, "--web-config-file", n.WebConfigFile)
	}
	return startProcess(exe, n, args...)
}

// startProcess starts exe with args in the background, logging to n.Log,
// and records its start time in n.
func startProcess(exe string, n *nodeState, args ...string) (int, error) {
	logf, err := os.OpenFile(n.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	c := exec.Command(exe, args...)
	c.Stdout, c.Stderr = logf, logf
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		return 0, fmt.Errorf("start node %s: %w", n.Name, err)
	}
	pid := c.Process.Pid
	n.Start = startTimeOf(pid)
	_ = c.Process.Release()
	return pid, nil
}

// nthAddr is the metrics address of the pair's node i: port 0 stays 0 (the
// node picks one), a fixed port P becomes P+i.
func nthAddr(addr string, i int) (string, error) {
	if addr == "" {
		return "", nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p+i > 65535 {
		return "", fmt.Errorf("--metrics-addr %q: bad port", addr)
	}
	if p == 0 {
		return addr, nil
	}
	return net.JoinHostPort(host, strconv.Itoa(p+i)), nil
}

// freeLoopbackAddr asks the OS for a free port on 127.0.0.1.
func freeLoopbackAddr() (string, error) { return freeAddr("127.0.0.1") }

// handedOut is every address freeAddr gave in this process: the OS may
// give a port again once its probe closed, and a pair's link and consensus
// addresses must differ.
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// freeAddr asks the OS for a free port on host, a local address, that
// this process has not handed out before.
func freeAddr(host string) (string, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	for {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", err
		}
		addr := l.Addr().String()
		_ = l.Close()
		if !handedOut.addrs[addr] {
			handedOut.addrs[addr] = true
			return addr, nil
		}
	}
}

// linkAddr is the link address of node i: --addrs' entry (a free port
// when it has none, or port 0), or a free port on 127.0.0.1.
func (o pairUpOptions) linkAddr(i int) (string, error) {
	if len(o.addrs) == 0 {
		return freeLoopbackAddr()
	}
	a := o.addrs[i]
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		host, port = a, "0"
	}
	if port == "0" {
		return freeAddr(host)
	}
	return net.JoinHostPort(host, port), nil
}

// pairNodeNames are the names of st's nodes.
func pairNodeNames(st *pairState) []string {
	var names []string
	for _, n := range st.Nodes {
		names = append(names, n.Name)
	}
	return names
}

func anyAlive(st *pairState) bool {
	for i := range st.Nodes {
		if nodeAlive(&st.Nodes[i]) {
			return true
		}
	}
	for _, w := range st.AllWitnesses() {
		if nodeAlive(w) {
			return true
		}
	}
	return false
}

func newPairDownCmd() *cobra.Command {
	var dir string
	var grace time.Duration
	var force bool
	cmd := &cobra.Command{
		Use: "down",
		Example: `  ftmctl pair down
  ftmctl pair down --dir /tmp/p --grace 1s`,
		Short: "Stop both nodes of the pair (SIGTERM, then SIGKILL after --grace)",
		Long: `down stops the nodes pair.json names, each only once its PID is known to
still be that node (its recorded start time, or its control socket giving
that PID); a PID now run by another process is not signalled. --force stops
the nodes answering on the control sockets in --dir instead, for a damaged or
lost pair.json, and moves a damaged one aside.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d := pairDown{w: cmd.OutOrStdout(), dir: dir, grace: grace}
			if force {
				return d.force(cmd.Context())
			}
			st, err := loadPair(dir)
			if err != nil {
				return err
			}
			return firstError(d.stopNodes(cmd.Context(), st), d.stopWitness(cmd.Context(), st))
		},
	}
	cmd.Flags().StringVar(&dir, "dir", defaultDir(), "the pair's state directory")
	cmd.Flags().DurationVar(&grace, "grace", 5*time.Second, "time to wait after SIGTERM before SIGKILL")
	cmd.Flags().BoolVar(&force, "force", false, "stop the nodes answering on the control sockets in --dir, whatever pair.json says")
	return cmd
}
