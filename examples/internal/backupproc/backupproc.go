package backupproc

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/internal/failpoint"
	"github.com/ftm-in-go/ftm/kernel/heartbeat"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/stm"
)

// Options say how the program's side starts its backup process.
type Options struct {
	// Command is the backup process's argv: this binary in its backup
	// mode (it then calls Serve).
	Command []string
	// Env is the backup process's environment; SecretEnv (the pair's
	// secret) and GOMAXPROCS=1 are added to it.
	Env []string
	// SecretEnv names the variable the backup process reads its secret
	// from and passes to Serve.
	SecretEnv string
	// Failpoints is the failpoint spec of alpha (crash tests; "" none).
	Failpoints string
	Verbose    bool      // log the pair's events to stderr
	Stderr     io.Writer // the backup process's standard error (nil: discarded)
	// Wait returns the bank only once the backup holds its copy.
	Wait bool
}

func pairLogger(verbose bool) *zap.Logger {
	if !verbose {
		return zap.NewNop()
	}
	cfg := zap.NewDevelopmentConfig()
	cfg.OutputPaths = []string{"stderr"}
	log, err := cfg.Build()
	if err != nil {
		return zap.NewNop()
	}
	return log
}

// member is one running pair member.
type member struct {
	stable *pair.Stable
	cancel context.CancelFunc
	done   chan error
}

// heartbeatTimeout is long: the two processes share a machine, where a
// killed process is noticed at once by its broken link, while a loaded
// machine can stall one for a second; a false death would hand alpha's
// bank to beta (fencing) and end the computation.
const heartbeatTimeout = 30 * time.Second

func startMember(ctx context.Context, pc pair.Config, failpoints string, log *zap.Logger) (*member, error) {
	st, err := pair.NewStable(pair.StableConfig{Name: pc.Name, PartnerName: pc.PartnerName, Logger: log,
		Failpoint: failpoint.Arm(failpoints, pc.Name, log)})
	if err != nil {
		return nil, err
	}
	return runMember(ctx, pc, st, log)
}

// runMember runs the pair node of st.
func runMember(ctx context.Context, pc pair.Config, st *pair.Stable, log *zap.Logger) (*member, error) {
	pc.Heartbeat = heartbeat.Config{Timeout: heartbeatTimeout}
	pc.Hooks, pc.Logger = st.Hooks(), log
	n, err := pair.New(pc)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	m := &member{stable: st, cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- n.Run(ctx) }()
	return m, nil
}

func (m *member) stop() error {
	m.cancel()
	err := <-m.done
	_ = m.stable.Close()
	return err
}

// alphaNode is the computation's side of the pair, set up in the
// background: the backup process is started, its address read, the link
// dialled, while the computation runs.
type alphaNode struct {
	ready chan struct{} // closed once the fields below are set
	m     *member
	child backupProcess
	err   error
}

// Start returns alpha's bank at once, the backup process being started
// in the background, or, with o.Wait, once beta holds its backup copy.
// Without Wait the computation starts at once; the checkpoints due before
// the backup holds a copy are refused and their pages carried into the
// first one after (package task): the program runs unprotected for its
// first milliseconds only. stop ends both nodes and reports a backup
// process that could not be started.
func Start(ctx context.Context, o Options) (bank *stm.Bank, stop func() error, err error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, nil, err
	}
	log := pairLogger(o.Verbose).Named("alpha")
	st, err := pair.NewStable(pair.StableConfig{Name: "alpha", PartnerName: "beta", Logger: log,
		Failpoint: failpoint.Arm(o.Failpoints, "alpha", log)})
	if err != nil {
		return nil, nil, err
	}
	a := &alphaNode{ready: make(chan struct{})}
	go a.start(ctx, st, alphaLink{secret: secret, opts: o, log: log})
	bank = st.Own()
	if o.Wait {
		<-a.ready
		if a.err == nil {
			a.err = waitProtected(ctx, st, "alpha", 30*time.Second)
		}
		if a.err != nil {
			return nil, nil, errors.Join(a.err, a.stop())
		}
	}
	return bank, a.stop, nil
}

// alphaLink is how alpha links to its backup: the pair's shared secret,
// whether the backup process logs, and alpha's own log.
type alphaLink struct {
	secret []byte
	opts   Options
	log    *zap.Logger
}

// start starts the backup process, then alpha's pair node dialling it.
func (a *alphaNode) start(ctx context.Context, st *pair.Stable, al alphaLink) {
	defer close(a.ready)
	child, addr, err := startBackupProcess(al.secret, al.opts)
	if err != nil {
		a.err = err
		_ = st.Close()
		return
	}
	a.child = child
	a.m, a.err = runMember(ctx, pair.Config{Name: "alpha", PartnerName: "beta", PartnerAddr: addr, Redial: time.Millisecond,
		Dial: pair.TCPDialer(link.Config{Name: "alpha", Secret: al.secret, Logger: al.log})}, st, al.log)
}

// stop ends alpha's node, then the backup process.
func (a *alphaNode) stop() error {
	<-a.ready
	if a.m != nil {
		_ = a.m.stop()
	}
	if a.child.cmd != nil {
		a.child.stop()
	}
	if a.err != nil {
		return fmt.Errorf("the backup process: %w (the computation ran unprotected)", a.err)
	}
	return nil
}

// waitProtected waits until bank name's mirror is attached.
func waitProtected(ctx context.Context, st *pair.Stable, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for _, b := range st.Status().Banks {
			if b.Name == name && b.Role == pair.RoleOwn && b.Mirror == pair.MirrorAttached {
				return nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("the backup process did not attach within %v", timeout)
}

// backupProcess is the parent's handle on the backup node's process.
type backupProcess struct {
	cmd   *exec.Cmd
	stdin io.Closer
}

func (b backupProcess) stop() {
	_ = b.stdin.Close() // the backup exits when its stdin closes
	_ = b.cmd.Wait()
}

// startBackupProcess starts o.Command and reads the address it listens on
// from its first line of output.
func startBackupProcess(secret []byte, o Options) (backupProcess, string, error) {
	if len(o.Command) == 0 {
		return backupProcess{}, "", errors.New("backupproc: no backup command")
	}
	cmd := exec.Command(o.Command[0], o.Command[1:]...)
	// One thread runs the backup's goroutines: its work is light and
	// waking a second thread per received commit costs the computation CPU.
	cmd.Env = append(slices.Clone(o.Env), o.SecretEnv+"="+hex.EncodeToString(secret), "GOMAXPROCS=1")
	cmd.Stderr = o.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return backupProcess{}, "", err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return backupProcess{}, "", err
	}
	if err := cmd.Start(); err != nil {
		return backupProcess{}, "", fmt.Errorf("start the backup process: %w", err)
	}
	bp := backupProcess{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		bp.stop()
		return backupProcess{}, "", fmt.Errorf("the backup process did not say where it listens (%q): %v", line, err)
	}
	return bp, addr, nil
}

// ServeOptions say how the backup process serves.
type ServeOptions struct {
	Secret     string    // the pair's secret, hex, as Start passed it in SecretEnv
	SecretEnv  string    // its variable's name, for the error without it
	Failpoints string    // beta's failpoint spec ("" none)
	Verbose    bool      // log the pair's events to stderr
	Out        io.Writer // where "listening ADDR" is written for Start
	In         io.Reader // serves until it ends (the program's end)
}

// ErrNoSecret is returned by Serve without the pair's secret.
var ErrNoSecret = errors.New("backupproc: no secret")

// Serve is the backup process: node beta of the pair, until o.In ends.
func Serve(o ServeOptions) error {
	secret, err := hex.DecodeString(o.Secret)
	if err != nil || len(secret) == 0 {
		return fmt.Errorf("%w: the backup mode needs the pair's secret in %s", ErrNoSecret, o.SecretEnv)
	}
	log := pairLogger(o.Verbose).Named("beta")
	lis, err := link.Listen("127.0.0.1:0", link.Config{Name: "beta", Secret: secret, Logger: log})
	if err != nil {
		return err
	}
	defer lis.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := startMember(ctx, pair.Config{Name: "beta", PartnerName: "alpha", Listener: pair.TCPListener(lis)}, o.Failpoints, log)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(o.Out, "listening %s\n", lis.Addr()); err != nil {
		return errors.Join(err, m.stop())
	}
	_, _ = io.Copy(io.Discard, o.In)
	return m.stop()
}
