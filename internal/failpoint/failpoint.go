// Package failpoint lets a real node process die or stall at a named step,
// for the kill-loop soak and the crash tests that run real processes with
// SIGKILL. It is off unless the environment variable FTM_FAILPOINTS
// names points; the layers that honour it (pair, task) read
// it when their own failpoint hook is left nil.
//
// The variable holds entries separated by ';', each
//
//	[NODE:]POINT=ACTION[@N]
//
// NODE limits the entry to the node of that name (both nodes of a pair
// started by `ftmctl pair up` inherit the same environment); POINT is a step
// name such as stm.phase1.shipped, task.checkpoint.save or
// pair.takeover.begin (see Points); ACTION is kill (SIGKILL this process,
// the way `ftmctl crash` does) or sleep(DURATION) (stall there, e.g. to
// widen the window in which the partner is killed; at stm's points the
// stall holds the bank's lock); @N fires at the N-th time the point is
// reached only (default: the first), counted per layer that reads the
// variable (pair.Stable, task.Server). Example:
//
//	FTM_FAILPOINTS='alpha:stm.phase1.shipped=kill@3;beta:pair.takeover.taken=sleep(300ms)'
package failpoint

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// EnvVar is the environment variable read by FromEnv.
const EnvVar = "FTM_FAILPOINTS"

// Points the pair and task layers reach, besides stm's own (stm.Failpoints
// of the banks a node holds, stm.BackupFailpoints of the backups it serves).
const (
	// TaskCheckpointSave: a stable task's pages are copied and about to be
	// committed to its bank.
	TaskCheckpointSave = "task.checkpoint.save"
	// TaskCheckpointSaved: that commit was acknowledged.
	TaskCheckpointSaved = "task.checkpoint.saved"
	// TakeoverBegin: the partner was declared dead; its bank is about to be
	// taken over.
	TakeoverBegin = "pair.takeover.begin"
	// TakeoverTaken: the backup bank became a primary; in-doubt groups are
	// not resolved yet and the partner's tasks not restarted.
	TakeoverTaken = "pair.takeover.taken"
	// TakeoverResolved: in-doubt groups resolved; the partner's tasks are
	// about to be restarted.
	TakeoverResolved = "pair.takeover.resolved"
	// AttachBegin: a bank's full copy is about to be streamed to the
	// partner (re-protection).
	AttachBegin = "pair.attach.begin"
)

// ErrSyntax is returned for an unreadable FTM_FAILPOINTS entry.
var ErrSyntax = errors.New("failpoint: bad entry")

// action is what an entry does when its point is reached.
type action struct {
	point string
	kill  bool
	sleep time.Duration
	nth   int // fire at this hit only
}

// Set is one node's failpoints. The nil *Set has none; its methods do
// nothing.
type Set struct {
	log     *zap.Logger
	actions map[string]action

	mu   sync.Mutex // guards hits
	hits map[string]int
}

// Parse reads spec for node (entries for other nodes are ignored). It
// returns nil when no entry applies.
func Parse(spec, node string, log *zap.Logger) (*Set, error) {
	if log == nil {
		log = zap.NewNop()
	}
	s := &Set{log: log, actions: map[string]action{}, hits: map[string]int{}}
	for _, e := range strings.Split(spec, ";") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		a, who, err := parseEntry(e)
		if err != nil {
			return nil, err
		}
		if who == "" || who == node {
			s.actions[a.point] = a
		}
	}
	if len(s.actions) == 0 {
		return nil, nil
	}
	return s, nil
}

// FromEnv is Parse of $FTM_FAILPOINTS; a bad entry is logged and ignored
// as a whole (no failpoint fires), never fatal.
func FromEnv(node string, log *zap.Logger) *Set {
	spec := os.Getenv(EnvVar)
	if spec == "" {
		return nil
	}
	s, err := Parse(spec, node, log)
	if err != nil {
		if log != nil {
			log.Error("ignoring "+EnvVar, zap.Error(err))
		}
		return nil
	}
	if s != nil {
		s.log.Warn("failpoints armed from "+EnvVar, zap.String("node", node), zap.String("spec", spec))
	}
	return s
}

func parseEntry(e string) (action, string, error) {
	bad := func(why string) (action, string, error) {
		return action{}, "", fmt.Errorf("%w %q: %s (want [NODE:]POINT=kill|sleep(DUR)[@N])", ErrSyntax, e, why)
	}
	lhs, rhs, ok := strings.Cut(e, "=")
	if !ok {
		return bad("no '='")
	}
	who, point, scoped := strings.Cut(lhs, ":")
	if !scoped {
		who, point = "", lhs
	}
	a := action{point: strings.TrimSpace(point), nth: 1}
	if a.point == "" {
		return bad("no point")
	}
	if act, n, ok := strings.Cut(rhs, "@"); ok {
		v, err := strconv.Atoi(n)
		if err != nil || v < 1 {
			return bad("@N needs a positive count")
		}
		rhs, a.nth = act, v
	}
	switch {
	case rhs == "kill":
		a.kill = true
	case strings.HasPrefix(rhs, "sleep(") && strings.HasSuffix(rhs, ")"):
		d, err := time.ParseDuration(rhs[len("sleep(") : len(rhs)-1])
		if err != nil || d <= 0 {
			return bad("sleep needs a positive duration")
		}
		a.sleep = d
	default:
		return bad("unknown action")
	}
	return a, strings.TrimSpace(who), nil
}

// Hit reports that point was reached: if an entry fires there, the process
// is killed or the caller stalls.
func (s *Set) Hit(point string) {
	if s == nil {
		return
	}
	a, ok := s.actions[point]
	if !ok {
		return
	}
	s.mu.Lock()
	s.hits[point]++
	n := s.hits[point]
	s.mu.Unlock()
	if n != a.nth {
		return
	}
	if a.kill {
		s.log.Warn("failpoint: SIGKILL of this process", zap.String("point", point), zap.Int("hit", n))
		_ = s.log.Sync()
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
	s.log.Warn("failpoint: stalling", zap.String("point", point), zap.Int("hit", n), zap.Duration("for", a.sleep))
	time.Sleep(a.sleep)
}

// Hook adapts the set to stm's failpoint hooks (stm.Config.Failpoint,
// stm.BackupConfig.Failpoint): it never asks stm to simulate a crash, the
// process dies for real. Nil for the nil set.
func (s *Set) Hook() func(name string) error {
	if s == nil {
		return nil
	}
	return func(name string) error { s.Hit(name); return nil }
}
