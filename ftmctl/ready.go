package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/pair"
)

// pollEvery is how often the readiness checks look at the pair again.
const pollEvery = 100 * time.Millisecond

// pairLook is what one look at every node of the pair found.
type pairLook struct {
	missing   []string     // what does not hold yet, one phrase each
	exited    []nodeState  // nodes whose process is gone
	answering int          // nodes that answered GET /status
	statuses  []nodeStatus // the answers
}

// level is how much readiness a check asks for: the nodes up and linked,
// every bank protected, or also the reliable servers answering.
type level int

const (
	levelLinked level = iota
	levelProtected
	levelReady
)

// lookAtPair asks every node of st for its status (and its reliable
// servers, at levelReady) and lists what still keeps the pair below lvl.
func lookAtPair(ctx context.Context, dir string, st *pairState, lvl level) pairLook {
	var p pairLook
	for _, n := range st.Nodes {
		if !alive(n.PID) {
			p.exited = append(p.exited, n)
			p.missing = append(p.missing, fmt.Sprintf("node %s is not running", n.Name))
			continue
		}
		var s nodeStatus
		if err := newControlClient(dir, n.Name).get(ctx, "/status", &s); err != nil {
			p.missing = append(p.missing, fmt.Sprintf("node %s is not answering", n.Name))
			continue
		}
		p.answering++
		p.statuses = append(p.statuses, s)
		for _, peer := range notLinked(st, s) { // cluster.go: the partner, or a cluster's live peers
			p.missing = append(p.missing, fmt.Sprintf("node %s is not linked to %s", n.Name, peer))
		}
		if lvl >= levelReady {
			p.missing = append(p.missing, serversMissing(ctx, dir, n.Name)...)
		}
	}
	if lvl >= levelProtected {
		p.missing = append(p.missing, unprotected(st, p.statuses)...)
	}
	return p
}

// unprotected lists the banks that have no backup attached: each node's
// own bank must be held as a primary by some node, with its mirror
// attached.
func unprotected(st *pairState, statuses []nodeStatus) []string {
	var out []string
	held := map[string]bool{}
	for _, s := range statuses {
		if s.STM == nil {
			continue
		}
		for _, b := range s.STM.Banks {
			if b.Role == pair.RoleBackup {
				continue
			}
			held[b.Name] = true
			if b.Mirror != pair.MirrorAttached {
				out = append(out, fmt.Sprintf("bank %s on node %s has no backup attached (%s)", b.Name, s.Name, orNone(b.Mirror)))
			}
		}
	}
	for _, n := range st.Nodes {
		if !held[n.Name] {
			out = append(out, fmt.Sprintf("bank %s is held by no answering node", n.Name))
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// serversMissing lists why node's reliable servers do not answer yet. A
// node that runs none on purpose (its Off reason) is not waited for.
func serversMissing(ctx context.Context, dir, node string) []string {
	var rn ruNode
	if err := newControlClient(dir, node).get(ctx, "/ru", &rn); err != nil {
		return []string{fmt.Sprintf("node %s: reliable servers not answering", node)}
	}
	var out []string
	for _, h := range rn.Hosts {
		if !h.Running {
			out = append(out, fmt.Sprintf("node %s does not run the servers of bank %s yet (%s)", node, h.Bank, h.Waiting))
		}
	}
	return out
}

// errNotReady: the pair did not reach the wanted state in time.
var errNotReady = errors.New("timed out")

// awaiting is what awaitPair waits for: the level, how long, and whether a
// node's process exiting ends the wait at once.
type awaiting struct {
	lvl      level
	timeout  time.Duration
	failFast bool
}

// awaitPair looks at the pair until nothing is missing at a.lvl, a node's
// process exits (a.failFast) or a.timeout passes. The error says what was
// still missing, and for a node that exited, the cause its log gives.
func awaitPair(ctx context.Context, dir string, a awaiting) error {
	lvl, timeout, failFast := a.lvl, a.timeout, a.failFast
	var hint string
	err := pollUntil(ctx, timeout, func(ctx context.Context) (string, error) {
		st, err := loadPair(dir)
		if err != nil {
			return "", err
		}
		p := lookAtPair(ctx, dir, st, lvl)
		if failFast && len(p.exited) > 0 {
			n := p.exited[0]
			return "", fmt.Errorf("node %s exited: %s (log %s)", n.Name, lastErrorLine(n.Log), n.Log)
		}
		hint = logHint(st)
		return strings.Join(p.missing, "; "), nil
	})
	if errors.Is(err, errNotReady) {
		return fmt.Errorf("%w%s", err, hint)
	}
	return err
}

// pollUntil calls check until it reports nothing missing (""), fails, or
// timeout passes: then the error (errNotReady) says what was still missing.
// A node slow to answer does not hold the wait past its timeout.
func pollUntil(ctx context.Context, timeout time.Duration, check func(context.Context) (missing string, err error)) error {
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(pollEvery))
	defer cancel()
	for {
		missing, err := check(ctx)
		switch {
		case err != nil:
			return err
		case missing == "":
			return nil
		case !time.Now().Before(deadline):
			return fmt.Errorf("%w after %s: %s", errNotReady, timeout, missing)
		}
		select {
		case <-ctx.Done():
			if time.Now().Before(deadline) { // interrupted, not timed out
				return ctx.Err()
			}
			return fmt.Errorf("%w after %s: %s", errNotReady, timeout, missing)
		case <-time.After(pollEvery):
		}
	}
}

// logHint is the last error line of the first node log that has one, as a
// clause to end a timeout message with.
func logHint(st *pairState) string {
	for _, n := range st.Nodes {
		if l := lastErrorLine(n.Log); l != "no error in its log" {
			return fmt.Sprintf(" (%s's log: %s)", n.Name, l)
		}
	}
	return ""
}

// lastErrorLine is the last line of a node's log that reports an error: a
// zap entry at level error or worse (its message and error), or a plain
// line the binary printed before exiting.
func lastErrorLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "no log: " + err.Error()
	}
	defer f.Close()
	last := "no error in its log"
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l, ok := errorLine(sc.Text()); ok {
			last = l
		}
	}
	return last
}

// errorLine returns line in short if it reports an error.
func errorLine(line string) (string, bool) {
	line = strings.TrimSpace(line)
	if line == "" {
		return "", false
	}
	var e struct {
		Level, Msg, Error string
	}
	if json.Unmarshal([]byte(line), &e) != nil {
		return line, true // not a log entry: the binary's own last words
	}
	switch e.Level {
	case "error", "dpanic", "panic", "fatal":
		if e.Error != "" {
			return e.Msg + ": " + e.Error, true
		}
		return e.Msg, true
	}
	return "", false
}

// defaultReadyWait is how long pair up waits for the pair to be ready.
const defaultReadyWait = 30 * time.Second

// awaitUp waits, after pair up started its nodes, until the pair is ready
// (o.wait 0: not at all); a node that exits ends the wait with its cause.
func awaitUp(cmd *cobra.Command, o pairUpOptions) error {
	if o.wait <= 0 {
		return nil
	}
	what := "pair"
	if o.cluster {
		what = "cluster"
	}
	if err := awaitPair(cmd.Context(), o.dir, awaiting{lvl: levelReady, timeout: o.wait, failFast: true}); err != nil {
		return fmt.Errorf("%s up: %w; ftmctl %s down --dir %s stops what runs", what, err, what, o.dir)
	}
	_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s ready: linked, every bank backed up, servers answering\n", what)
	return err
}
