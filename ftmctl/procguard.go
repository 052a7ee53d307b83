package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ftmctl signals a node only once it knows the PID in pair.json is still
// that node: the process's start time matches the one recorded when ftmctl
// started it, or (none recorded, or no /proc) the node's control socket,
// asked with the pair's token, answers with that PID. A PID reused by an
// unrelated process is never signalled.

var (
	// errPIDReused: the recorded node is gone and its PID is another process.
	errPIDReused = errors.New("the recorded process is gone and the pid now belongs to another process; it was not signalled")
	// errPIDUnverified: the PID is live but nothing proves it is the node.
	errPIDUnverified = errors.New("the pid is live but is not confirmed as the node (no start time recorded and its control socket does not give that pid); it was not signalled")
	// errNotRunning: the recorded PID runs nothing.
	errNotRunning = errors.New("not running")
)

// procStartTime is pid's start time in clock ticks since boot (field 22 of
// /proc/PID/stat), or an error where there is no such process or no /proc.
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name start at field 3.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	const startField = 22 - 3
	if len(f) <= startField {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return strconv.ParseUint(f[startField], 10, 64)
}

// startTimeOf is pid's start time, 0 when it cannot be read.
func startTimeOf(pid int) uint64 {
	t, err := procStartTime(pid)
	if err != nil {
		return 0
	}
	return t
}

// nodeAlive reports whether n's recorded process still runs (by start time
// when one is recorded and readable: a reused PID is not the node).
func nodeAlive(n *nodeState) bool {
	if !alive(n.PID) {
		return false
	}
	if n.Start == 0 {
		return true
	}
	t, err := procStartTime(n.PID)
	return err != nil || t == n.Start
}

// verifyNode returns nil when n.PID is n's own process, errNotRunning when
// nothing runs there, and errPIDReused or errPIDUnverified otherwise.
func verifyNode(ctx context.Context, dir string, n *nodeState) error {
	if !alive(n.PID) {
		return errNotRunning
	}
	if n.Start != 0 {
		if t, err := procStartTime(n.PID); err == nil {
			if t != n.Start {
				return errPIDReused
			}
			return nil
		}
	}
	var s nodeStatus
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := newControlClient(dir, n.Name).get(ctx, "/status", &s); err != nil || s.PID != n.PID {
		return errPIDUnverified
	}
	return nil
}

// refusal is the one-line error for a node verifyNode refused.
func refusal(n *nodeState, err error) error {
	return fmt.Errorf("node %s (pid %d): %w (check `ps -p %d`)", n.Name, n.PID, err, n.PID)
}

// pairDown is one `pair down`: where it reports, the pair's directory and
// the grace between SIGTERM and SIGKILL.
type pairDown struct {
	w     io.Writer
	dir   string
	grace time.Duration
}

// stopNodes stops every node of st that verifies as itself (SIGTERM, then
// SIGKILL after grace) and prints what happened to each; a node whose PID
// does not verify is left alone and its refusal returned.
func (d pairDown) stopNodes(ctx context.Context, st *pairState) error {
	w, dir, grace := d.w, d.dir, d.grace
	var refused error
	for i := range st.Nodes {
		n := &st.Nodes[i]
		err := verifyNode(ctx, dir, n)
		switch {
		case errors.Is(err, errNotRunning):
			fmt.Fprintf(w, "node %s: not running\n", n.Name)
		case err != nil:
			fmt.Fprintf(w, "node %s: not signalled\n", n.Name)
			if refused == nil {
				refused = refusal(n, err)
			}
		default:
			fmt.Fprintf(w, "node %s: %s\n", n.Name, stopProcess(ctx, n, grace))
		}
	}
	return refused
}

// force stops the nodes that answer on a control socket in dir with
// the pair's token, whatever pair.json says (it may be damaged or lost),
// and then moves a damaged pair.json aside so pair up can start afresh.
func (d pairDown) force(ctx context.Context) error {
	w, dir, grace := d.w, d.dir, d.grace
	socks, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
	for _, sock := range socks {
		name := strings.TrimSuffix(filepath.Base(sock), ".sock")
		var s nodeStatus
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := newControlClient(dir, name).get(cctx, "/status", &s)
		cancel()
		if err != nil || s.PID <= 0 {
			fmt.Fprintf(w, "node %s: not answering on %s\n", name, sock)
			continue
		}
		n := &nodeState{Name: name, PID: s.PID, Start: startTimeOf(s.PID)}
		fmt.Fprintf(w, "node %s (pid %d): %s\n", name, n.PID, stopProcess(ctx, n, grace))
	}
	if _, err := loadPair(dir); err != nil && !errors.Is(err, errNoPair) {
		p := filepath.Join(dir, "pair.json")
		if err := os.Rename(p, p+".damaged"); err != nil {
			return err
		}
		fmt.Fprintf(w, "moved the damaged %s to %s.damaged\n", p, p)
	}
	return nil
}

// stopProcess terminates n's process politely, then forcibly, and says
// what happened; it signals only a process verifyNode accepted, and checks
// again before SIGKILL that the PID is still n's.
func stopProcess(ctx context.Context, n *nodeState, grace time.Duration) string {
	_ = syscall.Kill(n.PID, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if !nodeAlive(n) {
			return "stopped"
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !nodeAlive(n) {
		return "stopped"
	}
	_ = syscall.Kill(n.PID, syscall.SIGKILL)
	return "killed after grace period"
}

// existingPair looks at dir before pair up starts anything: it returns the
// pair to restart the dead nodes of when a node of it verifiably runs, nil
// when a new pair may start, and a refusal when pair.json is damaged or a
// node still answers on a control socket there.
func existingPair(dir string) (*pairState, error) {
	st, err := loadPair(dir)
	if errors.Is(err, errNotDir) {
		return nil, err
	}
	if err != nil && !errors.Is(err, errNoPair) {
		p := filepath.Join(dir, "pair.json")
		return nil, fmt.Errorf("%s is damaged, so its nodes may still run; not starting more (stop them: `ftmctl pair down --force --dir %s`, or check `ps` for nodes run with --dir %s, stop them and remove %s)", p, dir, dir, p)
	}
	if st != nil && anyAlive(st) {
		return st, nil
	}
	if sock := answeringSocket(dir); sock != "" {
		return nil, fmt.Errorf("a node still answers on %s though pair.json names no live node; not starting more (stop it: `ftmctl pair down --force --dir %s`)", sock, dir)
	}
	return nil, nil
}

// answeringSocket is a control socket in dir a process listens on ("" for
// none; a killed node's socket file refuses connections).
func answeringSocket(dir string) string {
	socks, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
	for _, s := range socks {
		if c, err := net.DialTimeout("unix", s, time.Second); err == nil {
			c.Close()
			return s
		}
	}
	return ""
}
