package proctest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ErrDeadline is wrapped in the error of a child that was killed because
// it outlived its Spec.Timeout.
var ErrDeadline = errors.New("proctest: child outlived its deadline and was killed")

// waitDelay bounds how long a reaped child's output may stay open, held by
// a process it started itself.
const waitDelay = 5 * time.Second

// Spec says which child to start.
type Spec struct {
	Role string   // the Roles entry the child plays
	Args []string // the role's arguments
	// Env adds environment variables, for a role that is a program's main
	// and reads its own (the kit itself passes only EnvRole).
	Env []string
	// Timeout, when set, kills the child with SIGKILL once it has run that
	// long; without one the child lives until Kill or the test's end.
	Timeout time.Duration
}

// Process is a running child as its parent sees it. Its methods are for
// the test's goroutine.
type Process struct {
	t      testing.TB
	role   string
	cmd    *exec.Cmd
	ctx    context.Context // ends at the deadline
	cancel context.CancelFunc
	stdin  io.WriteCloser // held open while the child runs (BoundToParent)
	stdout *os.File       // the read end of the child's stdout
	lines  chan string    // the child's stdout lines; closed at its end
	stop   chan struct{}
	stderr SyncBuffer

	stopOnce sync.Once
	waitOnce sync.Once
	waitErr  error
}

// Start re-executes the test binary as s.Role and returns the running
// child; t.Cleanup kills and reaps it when the test ends.
func Start(t testing.TB, s Spec) *Process {
	t.Helper()
	p := &Process{t: t, role: s.Role, lines: make(chan string), stop: make(chan struct{})}
	if s.Timeout > 0 {
		p.ctx, p.cancel = context.WithTimeout(context.Background(), s.Timeout)
	} else {
		p.ctx, p.cancel = context.WithCancel(context.Background())
	}
	if err := p.start(s); err != nil {
		p.cancel()
		t.Fatalf("proctest: start %s: %v", s.Role, err)
	}
	t.Cleanup(p.reap)
	return p
}

// start builds the command and starts it with its stdin held open (see
// BoundToParent) and its stdout on a pipe read line by line.
func (p *Process) start(s Spec) error {
	argv := append([]string{"-test.run=^TestHelperProcess$", "-test.count=1", "--"}, s.Args...)
	p.cmd = exec.CommandContext(p.ctx, os.Args[0], argv...)
	p.cmd.Env = append(append(os.Environ(), s.Env...), EnvRole+"="+s.Role)
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = waitDelay
	stdin, err := p.cmd.StdinPipe() // closed when the child is reaped
	if err != nil {
		return err
	}
	p.stdin = stdin
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	p.cmd.Stdout = w
	err = p.cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return err
	}
	p.stdout = r
	go p.readLines(r)
	return nil
}

// readLines hands the child's stdout to the test one line at a time.
func (p *Process) readLines(r io.Reader) {
	defer close(p.lines)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		select {
		case p.lines <- sc.Text():
		case <-p.stop:
			return
		}
	}
}

// Next returns the child's next stdout line, or false once its stdout has
// ended (it exited or was killed, and every line was read).
func (p *Process) Next() (string, bool) {
	line, ok := <-p.lines
	return line, ok
}

// Line returns the child's next stdout line and fails the test if there is
// none.
func (p *Process) Line() string {
	p.t.Helper()
	line, ok := p.Next()
	if !ok {
		p.t.Fatalf("proctest: %s printed no more lines; stderr:\n%s", p.role, p.stderr.String())
	}
	return line
}

// Lines yields the child's stdout lines until it ends; a loop may break
// and a later one go on from the next line.
func (p *Process) Lines() iter.Seq[string] {
	return func(yield func(string) bool) {
		for line := range p.lines {
			if !yield(line) {
				return
			}
		}
	}
}

// Kill sends the child SIGKILL. It fails only if the child has already
// been reaped.
func (p *Process) Kill() error {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("proctest: SIGKILL %s: %w", p.role, err)
	}
	return nil
}

// Wait waits for the child to exit and returns how it ended (an
// *exec.ExitError for a non-zero status or a signal; ErrDeadline wrapped
// if the deadline killed it). It may be called more than once.
func (p *Process) Wait() error {
	p.waitOnce.Do(func() {
		err := p.cmd.Wait()
		if errors.Is(p.ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %s: %w", ErrDeadline, p.role, err)
		}
		p.cancel()
		p.waitErr = err
		if s := p.stderr.String(); s != "" {
			p.t.Logf("proctest: %s stderr:\n%s", p.role, s)
		}
	})
	return p.waitErr
}

// Pid is the child's process id (for reading its CPU time in /proc).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stderr is what the child has written to its stderr so far.
func (p *Process) Stderr() string { return p.stderr.String() }

// stopReading closes the parent's end of the child's stdout.
func (p *Process) stopReading() {
	p.stopOnce.Do(func() {
		close(p.stop)
		p.stdout.Close()
	})
}

// reap is the test's cleanup: the child is killed if it still runs, and
// reaped.
func (p *Process) reap() {
	_ = p.Kill()
	_ = p.Wait()
	p.stopReading()
}

// Result is how a child that ran to its end ended.
type Result struct {
	Stdout string // every line of its stdout, each ended by "\n"
	Stderr string
	Err    error // as Process.Wait
}

// Run starts s, collects the child's output until it exits and returns it.
func Run(t testing.TB, s Spec) Result {
	t.Helper()
	p := Start(t, s)
	var out strings.Builder
	read := make(chan struct{})
	go func() {
		defer close(read)
		for line := range p.lines {
			out.WriteString(line + "\n")
		}
	}()
	err := p.Wait()
	select {
	case <-read:
	case <-time.After(waitDelay): // a process the child started holds its stdout
	}
	p.stopReading()
	<-read
	return Result{Stdout: out.String(), Stderr: p.Stderr(), Err: err}
}

// SyncBuffer is a bytes.Buffer safe for one writer and a polling reader:
// a child's stderr copier writes it while the test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
