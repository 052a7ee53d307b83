package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/node/control"
	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

// nodeRuntime is everything a running node holds, for its control socket
// and its metrics.
type nodeRuntime struct {
	name        string
	version     string // the build's, as Version registered it
	allowFaults bool
	started     time.Time
	base        *zap.Logger // the logger Run was given (the node's parts add its name)
	log         *zap.Logger // the node's own logs: base with the node's name

	kernel *kernel.Node
	tasks  *task.Server
	stable *pair.Stable
	pair   *pair.Node // the first peer's link (a pair: the partner's)
	links  *links     // every peer's link (cluster.go)
	// clusterPeers names the other nodes (a pair: the partner).
	clusterPeers []string
	faults       *link.Faults
	ckpts        *ckptLog
	metrics      *nodeMetrics
	servers      *reliableServers // reliable servers of the banks held (reliable.go)
	publish      *publishedTasks  // published tasks of the banks held (published.go)
	group        *nodeGroup       // the group's member and lease; nil without a witness (group.go)
	ctx          context.Context  // Run's, for the tasks resumed when the lease comes back

	peerAddrs map[string]string // each peer's link address, probed when it is lost (gone.go)

	leaseMu sync.Mutex           // serializes leaseChanged; guards paused
	paused  map[string]*stm.Bank // banks whose tasks the lease's expiry stopped
}

func (rt *nodeRuntime) startControlTask() error {
	t, err := rt.kernel.NewTask(control.ControlTask)
	if err != nil {
		return err
	}
	p, err := t.AllocatePort()
	if err != nil {
		return err
	}
	return t.Register("ftmctl/"+rt.name, p)
}

func (rt *nodeRuntime) status() control.Status {
	st := rt.stable.Status()
	s := control.Status{Status: rt.pair.Status(), PID: os.Getpid(), Version: rt.version, STM: &st,
		Faults: rt.faults.State(), AllowFaults: rt.allowFaults, MetricsAddr: rt.metrics.addr(), Group: rt.group.status(),
		Peers: rt.links.statuses(), ConsensusCut: rt.group.cutOff()}
	switch last := rt.faults.LastRecv(); {
	case len(s.Peers) > 0: // a cluster: the fault switch's last frame is any peer's
		s.HeartbeatAge = s.Peers[0].HeartbeatAge
	case s.Linked && !last.IsZero():
		s.HeartbeatAge = time.Since(last)
	}
	return s
}

// routes serves the node's inspection and fault endpoints.
func (rt *nodeRuntime) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /ports", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, rt.kernelTasks()) })
	mux.HandleFunc("GET /ckpt", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, rt.ckpts.entries()) })
	mux.HandleFunc("POST /ckpt", rt.serveCkptNow)
	mux.HandleFunc("POST /fault", rt.serveFault)
	rt.servers.routes(mux)
	mux.Handle("GET /metrics", rt.metrics.handler())
	mux.HandleFunc("GET /metrics.json", func(w http.ResponseWriter, _ *http.Request) {
		fams, err := rt.metrics.families()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, fams)
	})
}

func (rt *nodeRuntime) kernelTasks() []control.KernelTask {
	out := []control.KernelTask{}
	for _, t := range rt.kernel.Tasks() {
		kt := control.KernelTask{ID: t.ID(), Name: t.Name(), Names: []control.PortName{}}
		infos, err := t.Names()
		if err != nil {
			if errors.Is(err, kernel.ErrTaskDead) {
				continue
			}
			kt.Error = err.Error()
		}
		for _, ni := range infos {
			kt.Names = append(kt.Names, control.PortName{Name: uint64(ni.Name), Type: ni.Type.String(), Receive: ni.Receive,
				SendRefs: ni.SendRefs, SendOnce: ni.SendOnce, DeadRefs: ni.DeadRefs, Members: ni.Members})
		}
		out = append(out, kt)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (rt *nodeRuntime) serveFault(w http.ResponseWriter, r *http.Request) {
	var req control.FaultRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if !rt.allowFaults {
		http.Error(w, "fault injection is off for this pair (restart it with `ftmctl pair up --allow-faults`)", http.StatusForbidden)
		return
	}
	switch req.Kind {
	case "partition":
		rt.faults.Partition(req.For)
		if rt.group != nil {
			rt.group.cut(req.Members, rt.pair.Status().Partner, req.For)
		}
	case "slow":
		if req.Delay <= 0 {
			http.Error(w, "slow needs a positive delay", http.StatusBadRequest)
			return
		}
		rt.faults.Slow(req.Delay, req.For)
	case "heal":
		rt.faults.Heal()
		rt.group.heal()
	default:
		http.Error(w, fmt.Sprintf("unknown fault %q", req.Kind), http.StatusBadRequest)
		return
	}
	rt.log.Warn("fault injected by ftmctl", zap.String("fault", req.Kind), zap.Duration("delay", req.Delay), zap.Duration("for", req.For),
		zap.Strings("members", req.Members))
	writeJSON(w, control.FaultReply{FaultState: rt.faults.State(), ConsensusCut: rt.group.cutOff()})
}
