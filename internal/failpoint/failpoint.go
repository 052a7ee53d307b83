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

	fp "github.com/ftm-in-go/ftm/kernel/failpoint"
)

// EnvVar is the environment variable binaries read the spec from.
const EnvVar = "FTM_FAILPOINTS"

// ErrSyntax is returned for an unreadable FTM_FAILPOINTS entry.
var ErrSyntax = errors.New("failpoint: bad entry")

// action is what an entry does when its point is reached.
type action struct {
	point string
	kill  bool
	sleep time.Duration
	nth   int // fire at this hit only
}

// Set is one node's failpoints, with the hits of each point counted
// (whatever the subject) since the set was parsed. The nil *Set has none.
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

// Arm returns the hook of spec for node, nil when spec is empty or names no
// point of node. A bad entry is logged and the spec ignored as a whole (no
// failpoint fires), never fatal; an armed hook is logged as a warning.
func Arm(spec, node string, log *zap.Logger) fp.Hook {
	if log == nil {
		log = zap.NewNop()
	}
	if spec == "" {
		return nil
	}
	s, err := Parse(spec, node, log)
	if err != nil {
		log.Error("ignoring "+EnvVar, zap.Error(err))
		return nil
	}
	if s == nil {
		return nil
	}
	log.Warn("failpoints armed from "+EnvVar, zap.String("node", node), zap.String("spec", spec))
	return s.Hook()
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

// Hook returns the set as a failpoint hook; nil for the nil set.
func (s *Set) Hook() fp.Hook {
	if s == nil {
		return nil
	}
	return func(point, _ string) error { s.hit(point); return nil }
}

// hit reports that point was reached: if an entry fires there, the process
// is killed or the caller stalls.
func (s *Set) hit(point string) {
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
