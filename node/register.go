package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

// ErrRegistration is a node's registrations that cannot run together: an
// empty or repeated name, a reserved name, a nil constructor.
var ErrRegistration = errors.New("node: bad registration")

// Registration is one thing a node carries: a stable program (Program,
// ProgramEnv), a reliable server (Server), control routes (Routes) or the
// build's version (Version). Run and Main take any number of them; both
// nodes of a pair must carry the same.
type Registration struct {
	program *programReg
	server  *serverReg
	pub     *publishedReg // published.go
	routes  func(*http.ServeMux)
	version string
	fp      *failpoints
}

// Env is what a program registered with ProgramEnv may use of the node
// that runs it.
type Env struct {
	Node   string      // the node's name
	Logger *zap.Logger // the node's logger (fields: node)
	// Bank returns a bank this node holds as primary, or nil.
	Bank func(name string) *stm.Bank
	// NewClient returns a new external client of the reliable servers
	// (output commit: an update is answered once durable), labelled name,
	// on a kernel task of its own that lasts as long as the node. Usable
	// once the node runs, from any goroutine; Close the client when done.
	NewClient func(name string) (*servers.Client, error)
}

type programReg struct {
	name    string
	mk      func(Env) task.Program
	args    task.Args
	restart task.Restart
}

// WithArgs declares the arguments of a program registration: `ftmctl run`
// with arguments args.Check refuses fails at once, in one line, before
// anything is recorded or started. On any other registration it does
// nothing.
func (r Registration) WithArgs(args task.Args) Registration {
	if r.program != nil {
		p := *r.program
		p.args = args
		r.program = &p
	}
	return r
}

// WithRestart declares the restart policy of a program registration: a
// task of it that panics is re-entered from its last checkpoint after
// restart.Backoff, up to restart.Max times (ps counts them in RESTARTS);
// without it, a panic fails the task. On any other registration it does
// nothing.
func (r Registration) WithRestart(restart task.Restart) Registration {
	if r.program != nil {
		p := *r.program
		p.restart = restart
		r.program = &p
	}
	return r
}

// Program registers prog as the stable program name: `ftmctl run name
// ARGS` starts it as a stable task, recorded in its node's bank,
// checkpointed by the node's policy and resumed on the partner after a
// takeover.
func Program(name string, prog task.Program) Registration {
	var mk func(Env) task.Program
	if prog != nil {
		mk = func(Env) task.Program { return prog }
	}
	return Registration{program: &programReg{name: name, mk: mk}}
}

// ProgramEnv registers a stable program that needs the node running it
// (its banks, its logger): mk is called once when the node starts.
func ProgramEnv(name string, mk func(Env) task.Program) Registration {
	return Registration{program: &programReg{name: name, mk: mk}}
}

// Service is a reliable server as the node runs it: servers.Server[S]
// is one.
type Service interface {
	// Run serves until ctx ends or the server fails.
	Run(ctx context.Context) error
	// Checkpoint takes a checkpoint of the server's recovery unit.
	Checkpoint(ctx context.Context) error
}

type serverReg struct {
	name string
	mk   func(servers.Config) (Service, error)
	ops  map[string]Operation
}

// Server registers a reliable server: on every bank BANK that a node
// holds as primary (while the bank has a backup), the node builds one
// with mk, named BANK/name, and runs it; after a takeover the survivor
// builds it again from its state in the bank. ops are the operations a
// control client may call with JSON (POST /call).
func Server[S Service](name string, mk func(servers.Config) (S, error), ops ...Operation) Registration {
	r := &serverReg{name: name, ops: map[string]Operation{}}
	if mk != nil {
		r.mk = func(cfg servers.Config) (Service, error) { return mk(cfg) }
	}
	for _, op := range ops {
		r.ops[op.name] = op
	}
	return Registration{server: r}
}

// Operation is one operation of a registered server callable with JSON.
type Operation struct {
	name string
	call func(ctx context.Context, c *servers.Client, server string, arg json.RawMessage) (json.RawMessage, error)
}

// Op makes the method m callable with JSON: the argument is decoded as a
// Req, the result encoded from a Resp.
func Op[Req, Resp any](m servers.Method[Req, Resp]) Operation {
	return Operation{name: m.Name(), call: func(ctx context.Context, c *servers.Client, server string, arg json.RawMessage) (json.RawMessage, error) {
		var req Req
		if err := json.Unmarshal(arg, &req); err != nil {
			return nil, fmt.Errorf("%w: %s.%s: %v", errBadArgument, server, m.Name(), err)
		}
		resp, err := m.At(server).Call(ctx, c, req)
		if err != nil {
			return nil, err
		}
		return json.Marshal(resp)
	}}
}

// errBadArgument is a call whose JSON argument does not decode.
var errBadArgument = errors.New("bad argument")

// Routes adds handlers to the node's control socket (behind its token
// check): a demo's own endpoints.
func Routes(add func(mux *http.ServeMux)) Registration {
	return Registration{routes: add}
}

// ArmFunc arms the failpoints of spec for node: internal/failpoint.Arm,
// which only a binary's main may import.
type ArmFunc func(spec, node string, log *zap.Logger) failpoint.Hook

type failpoints struct {
	spec string
	arm  ArmFunc
}

// Failpoints arms the failpoints of spec (crash tests: the node kills or
// stalls its own process at a named step) with arm; the drivers of the
// reliable servers hit them too. While the spec names a point outside the
// servers' and tasks' (serversPoints: an STM or pair step), the node runs
// no reliable servers and its stable tasks checkpoint into STM directly:
// the servers' commits would move those points' hit counts off their
// targets. An empty spec arms nothing.
func Failpoints(spec string, arm ArmFunc) Registration {
	return Registration{fp: &failpoints{spec: spec, arm: arm}}
}

// Version sets the build's version the node reports (status, metrics).
func Version(v string) Registration { return Registration{version: v} }

// registry is the registrations of a node, checked.
type registry struct {
	programs map[string]programReg
	servers  []*serverReg
	pubs     []*publishedReg
	routes   []func(*http.ServeMux)
	version  string
	fpSpec   string
	fpArm    ArmFunc
}

// appName is the application recovery unit every bank's host runs
// (BANK/app): no server may take its name.
const appName = "app"

func newRegistry(regs []Registration) (*registry, error) {
	r := &registry{programs: map[string]programReg{}, version: "dev"}
	seen := map[string]bool{appName: true}
	for _, g := range regs {
		switch {
		case g.program != nil:
			if err := r.addProgram(*g.program); err != nil {
				return nil, err
			}
		case g.server != nil:
			s := g.server
			if s.name == "" || strings.Contains(s.name, "/") || s.mk == nil || seen[s.name] {
				return nil, fmt.Errorf("%w: server %q (names are unique, without '/', not %q, with a constructor)", ErrRegistration, s.name, appName)
			}
			seen[s.name] = true
			r.servers = append(r.servers, s)
		case g.pub != nil:
			if err := r.addPublished(g.pub, seen); err != nil {
				return nil, err
			}
		case g.routes != nil:
			r.routes = append(r.routes, g.routes)
		case g.version != "":
			r.version = g.version
		case g.fp != nil:
			if g.fp.spec != "" && g.fp.arm == nil {
				return nil, fmt.Errorf("%w: failpoints without a function to arm them", ErrRegistration)
			}
			r.fpSpec, r.fpArm = g.fp.spec, g.fp.arm
		}
	}
	return r, nil
}

func (r *registry) addProgram(p programReg) error {
	if _, dup := r.programs[p.name]; dup || p.name == "" || p.mk == nil {
		return fmt.Errorf("%w: program %q (names are unique and not empty, with a function)", ErrRegistration, p.name)
	}
	if p.restart.Max < 0 || p.restart.Backoff < 0 {
		return fmt.Errorf("%w: program %q: a negative restart policy %+v", ErrRegistration, p.name, p.restart)
	}
	r.programs[p.name] = p
	return nil
}

// armFailpoints returns the hook of the failpoints registered for node
// (nil: none).
func (r *registry) armFailpoints(node string, log *zap.Logger) failpoint.Hook {
	if r.fpSpec == "" {
		return nil
	}
	return r.fpArm(r.fpSpec, node, log)
}

// serversPoints are the prefixes of the failpoints the reliable servers
// and stable tasks hit (servers.FP*, ru.FP*, task.FP*): their commits do
// not move them off their targets, so the servers run with them armed.
var serversPoints = []string{"servers.", "ru.", "task.", "pager."}

// serversPointsOnly reports whether every entry of the failpoint spec
// ([NODE:]POINT=ACTION, ';'-separated) names one of serversPoints.
func serversPointsOnly(spec string) bool {
	for _, e := range strings.Split(spec, ";") {
		lhs, _, _ := strings.Cut(strings.TrimSpace(e), "=")
		if _, p, ok := strings.Cut(lhs, ":"); ok {
			lhs = p
		}
		if strings.TrimSpace(lhs) == "" {
			continue
		}
		if !slices.ContainsFunc(serversPoints, func(pre string) bool { return strings.HasPrefix(strings.TrimSpace(lhs), pre) }) {
			return false
		}
	}
	return true
}

// taskArgs is the argument declarations of the registered programs.
func (r *registry) taskArgs() map[string]task.Args {
	out := make(map[string]task.Args, len(r.programs))
	for name, p := range r.programs {
		out[name] = p.args
	}
	return out
}

// taskRestarts is the restart policies of the registered programs.
func (r *registry) taskRestarts() map[string]task.Restart {
	out := make(map[string]task.Restart, len(r.programs))
	for name, p := range r.programs {
		out[name] = p.restart
	}
	return out
}

// taskPrograms builds the programs for the node's task server.
func (r *registry) taskPrograms(env Env) map[string]task.Program {
	out := make(map[string]task.Program, len(r.programs))
	for name, p := range r.programs {
		out[name] = p.mk(env)
	}
	return out
}
