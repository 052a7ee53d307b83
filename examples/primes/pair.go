package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/heartbeat"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/servers/pair"
	"github.com/ftm-in-go/ftm/stm"
)

// The two-process mode: this process is node "alpha" of a stable pair, and
// the same program started with -serve-backup is node "beta", the backup
// of alpha's bank, linked over authenticated TCP on 127.0.0.1 exactly as
// two `ftmctl node` processes are (pair.Node heartbeats, pair.Stable
// mirroring). The backup exits when its standard input closes, so it never
// outlives the computation, even one killed with SIGKILL.

const secretEnv = "FTM_PRIMES_SECRET"

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

func startMember(ctx context.Context, pc pair.Config, log *zap.Logger) (*member, error) {
	pc.Heartbeat = heartbeat.Config{Timeout: heartbeatTimeout}
	st, err := pair.NewStable(pair.StableConfig{Name: pc.Name, PartnerName: pc.PartnerName, Logger: log})
	if err != nil {
		return nil, err
	}
	pc.Hooks, pc.Logger = st.Hooks(), log
	n, err := pair.New(pc)
	if err != nil {
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

// startPair starts the backup process and returns alpha's bank: at once,
// or, with wait, once beta holds its backup copy. Without wait the
// computation starts while the backup process starts and links; the
// checkpoints due before it holds a copy are refused and their pages
// carried into the first one after (package task), so the program only
// runs unprotected for those first milliseconds.
func startPair(ctx context.Context, verbose, wait bool) (*stm.Bank, func(), error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, nil, err
	}
	child, addr, err := startBackupProcess(secret, verbose)
	if err != nil {
		return nil, nil, err
	}
	log := pairLogger(verbose).Named("alpha")
	m, err := startMember(ctx, pair.Config{Name: "alpha", PartnerName: "beta", PartnerAddr: addr, Redial: time.Millisecond,
		Dial: pair.TCPDialer(link.Config{Name: "alpha", Secret: secret, Logger: log})}, log)
	if err != nil {
		child.stop()
		return nil, nil, err
	}
	stop := func() { _ = m.stop(); child.stop() }
	if wait {
		if err := waitProtected(ctx, m.stable, "alpha", 30*time.Second); err != nil {
			stop()
			return nil, nil, err
		}
	}
	return m.stable.Own(), stop, nil
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

// startBackupProcess starts this program with -serve-backup and reads the
// address it listens on from its first line of output.
func startBackupProcess(secret []byte, verbose bool) (backupProcess, string, error) {
	self, err := os.Executable()
	if err != nil {
		return backupProcess{}, "", err
	}
	cmd := exec.Command(self, "-serve-backup", fmt.Sprintf("-v=%v", verbose))
	cmd.Env = append(os.Environ(), secretEnv+"="+hex.EncodeToString(secret))
	cmd.Stderr = os.Stderr
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

// serveBackup is the -serve-backup mode: node beta of the pair, until
// stdin closes.
func serveBackup(verbose bool) error {
	secret, err := hex.DecodeString(os.Getenv(secretEnv))
	if err != nil || len(secret) == 0 {
		return errors.New("-serve-backup needs the pair's secret in " + secretEnv)
	}
	log := pairLogger(verbose).Named("beta")
	lis, err := link.Listen("127.0.0.1:0", link.Config{Name: "beta", Secret: secret, Logger: log})
	if err != nil {
		return err
	}
	defer lis.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := startMember(ctx, pair.Config{Name: "beta", PartnerName: "alpha", Listener: pair.TCPListener(lis)}, log)
	if err != nil {
		return err
	}
	fmt.Printf("listening %s\n", lis.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return m.stop()
}
