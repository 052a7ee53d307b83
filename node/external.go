package node

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/names"
)

// maxIdleExternal bounds the external clients a node keeps between calls.
const maxIdleExternal = 64

// externalClients are the node's external clients (output-committed calls
// of POST /call): a servers.Client makes one call at a time, so each
// concurrent call takes one of its own and puts it back, and no lock is
// held across a call. They share one kernel task, external-client.
type externalClients struct {
	node   string
	kernel *kernel.Node
	log    *zap.Logger
	// observe, when set, times every call (the node's metrics).
	observe func(server, method string, d time.Duration, err error)

	mu     sync.Mutex // guards the fields below
	task   *kernel.Task
	names  names.Service
	idle   []*servers.Client
	closed bool
}

// get returns an idle client, or a new one.
func (e *externalClients) get() (*servers.Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, servers.ErrClosed
	}
	if n := len(e.idle); n > 0 {
		c := e.idle[n-1]
		e.idle = e.idle[:n-1]
		return c, nil
	}
	if e.task == nil {
		t, err := e.kernel.NewTask("external-client")
		if err != nil {
			return nil, err
		}
		e.task, e.names = t, names.NewKernel(t, e.log)
	}
	return servers.NewClient(servers.ClientConfig{Name: "ftmctl@" + e.node, Task: e.task, Names: e.names,
		Logger: e.log, Retries: externalRetries, Backoff: externalBackoff, Observe: e.observe})
}

// put gives c back after a call.
func (e *externalClients) put(c *servers.Client) {
	e.mu.Lock()
	keep := !e.closed && len(e.idle) < maxIdleExternal
	if keep {
		e.idle = append(e.idle, c)
	}
	e.mu.Unlock()
	if !keep {
		c.Close()
	}
}

// close releases the idle clients and the task (calls in progress end
// with it).
func (e *externalClients) close() {
	e.mu.Lock()
	idle, t := e.idle, e.task
	e.idle, e.task, e.closed = nil, nil, true
	e.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
	if t != nil {
		t.Terminate()
	}
}

// An external call retried inside the node (its server's name not bound
// yet: the bank is being taken over or its servers restarted) waits
// externalBackoff between attempts, for externalRetries attempts (400 ms)
// before its caller is told to retry: short pauses, so that a call made
// during a takeover is answered as soon as the servers run.
const (
	externalRetries = 80
	externalBackoff = 5 * time.Millisecond
)

// newClient is Env.NewClient: an external client on a task of its own.
func (rt *nodeRuntime) newClient(name string) (*servers.Client, error) {
	t, err := rt.kernel.NewTask("client/" + name)
	if err != nil {
		return nil, err
	}
	c, err := servers.NewClient(servers.ClientConfig{Name: name, Task: t, Names: names.NewKernel(t, rt.log),
		Logger: rt.log, Retries: externalRetries, Backoff: externalBackoff, Observe: rt.metrics.observeRPC})
	if err != nil {
		t.Terminate()
		return nil, err
	}
	return c, nil
}
