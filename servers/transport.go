package servers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/ftm-in-go/ftm/stm"
	"go.uber.org/zap"
)

// Transport moves protocol envelopes between drivers, in the manner of
// hashicorp/raft's Transport: kernel ports found through the name service
// in production (NewKernelTransport), memory in tests (InmemTransport).
// It is lossy: an envelope may be lost, and the protocol resends.
//
// Addresses are HostAddr(host) for a driver and UnitAddr(unit) for a
// unit whose host a peer does not know yet (Bind makes it reach the
// driver that runs the unit).
type Transport interface {
	// Addr is this driver's address (an Envelope's From).
	Addr() string
	// Bind makes UnitAddr(unit) reach this transport too.
	Bind(unit string) error
	// Send delivers env to env.To, or reports that it was lost.
	Send(ctx context.Context, env ru.Envelope) error
	// Receive returns the next envelope for this transport; an error
	// other than ctx's means the transport was closed.
	Receive(ctx context.Context) (ru.Envelope, error)
	// Close releases the transport: Receive fails, Sends to it are lost.
	Close() error
}

// HostAddr is the protocol address of the driver of host.
func HostAddr(host string) string { return "ftm.ru.host:" + host }

// UnitAddr is the protocol address of a unit whose host is not known.
func UnitAddr(unit string) string { return "ftm.ru.unit:" + unit }

// ErrUnreachable is returned by Send when the destination is not bound.
var ErrUnreachable = errors.New("servers: transport: destination unreachable")

// KernelTransport carries envelopes as kernel messages to protocol ports
// registered in a name service.
type KernelTransport struct {
	task  *kernel.Task
	names names.Service
	addr  string
	port  kernel.Name // receive right
	log   *zap.Logger
}

var _ Transport = (*KernelTransport)(nil)

// NewKernelTransport allocates host's protocol port in task and registers
// it under HostAddr(host).
func NewKernelTransport(task *kernel.Task, ns names.Service, host string, log *zap.Logger) (*KernelTransport, error) {
	if log == nil {
		log = zap.NewNop()
	}
	p, err := task.AllocatePort()
	if err != nil {
		return nil, fmt.Errorf("servers: transport %s: %w", host, err)
	}
	t := &KernelTransport{task: task, names: ns, addr: HostAddr(host), port: p, log: log}
	if err := ns.Register(t.addr, p); err != nil {
		_ = task.Destroy(p)
		return nil, fmt.Errorf("servers: transport %s: %w", host, err)
	}
	return t, nil
}

// Addr implements Transport.
func (t *KernelTransport) Addr() string { return t.addr }

// Bind implements Transport.
func (t *KernelTransport) Bind(unit string) error { return t.names.Register(UnitAddr(unit), t.port) }

// Send implements Transport: a dead port makes the next send resolve the
// address again.
func (t *KernelTransport) Send(ctx context.Context, env ru.Envelope) error {
	body, err := stm.Encode(env)
	if err != nil {
		return fmt.Errorf("servers: encode envelope: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	p, err := t.names.Resolve(ctx, env.To)
	if err != nil {
		return err
	}
	m := kernel.NewMessage()
	m.Dest, m.ID, m.Body = p, msgEnvelope, body
	if err := t.task.TrySend(m); err != nil {
		m.Free()
		t.names.Forget(env.To, p)
		return err
	}
	return nil
}

// Receive implements Transport; messages that are not envelopes are dropped.
func (t *KernelTransport) Receive(ctx context.Context) (ru.Envelope, error) {
	for {
		m, err := t.task.Receive(ctx, t.port)
		if err != nil {
			return ru.Envelope{}, err
		}
		body, id := m.Body, m.ID
		m.Free()
		if id != msgEnvelope {
			continue
		}
		env, err := decodeAny[ru.Envelope](body)
		if err != nil {
			t.log.Warn("undecodable envelope dropped", zap.Error(err))
			continue
		}
		return env, nil
	}
}

// Close implements Transport: it destroys the protocol port.
func (t *KernelTransport) Close() error { return t.task.Destroy(t.port) }

// InmemNetwork connects InmemTransports by address.
type InmemNetwork struct {
	mu    sync.Mutex // guards addrs
	addrs map[string]*InmemTransport
}

// NewInmemNetwork returns an empty network.
func NewInmemNetwork() *InmemNetwork { return &InmemNetwork{addrs: map[string]*InmemTransport{}} }

// Transport returns a new transport bound to HostAddr(host).
func (n *InmemNetwork) Transport(host string) *InmemTransport {
	t := &InmemTransport{net: n, addr: HostAddr(host), in: make(chan []byte, inmemQueue), done: make(chan struct{})}
	n.bind(t.addr, t)
	return t
}

func (n *InmemNetwork) bind(addr string, t *InmemTransport) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addrs[addr] = t
}

func (n *InmemNetwork) lookup(addr string) *InmemTransport {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.addrs[addr]
}

func (n *InmemNetwork) unbind(t *InmemTransport) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for a, x := range n.addrs {
		if x == t {
			delete(n.addrs, a)
		}
	}
}

// inmemQueue bounds an InmemTransport's queue: a full queue loses envelopes.
const inmemQueue = 1024

// InmemTransport is a Transport in memory, for tests. Envelopes cross it
// encoded, as they cross the kernel, so the receiver shares nothing with
// the sender.
type InmemTransport struct {
	net  *InmemNetwork
	addr string
	in   chan []byte
	once sync.Once
	done chan struct{} // closed by Close
}

var _ Transport = (*InmemTransport)(nil)

// Addr implements Transport.
func (t *InmemTransport) Addr() string { return t.addr }

// Bind implements Transport.
func (t *InmemTransport) Bind(unit string) error {
	t.net.bind(UnitAddr(unit), t)
	return nil
}

// Send implements Transport.
func (t *InmemTransport) Send(_ context.Context, env ru.Envelope) error {
	to := t.net.lookup(env.To)
	if to == nil {
		return fmt.Errorf("%w: %s", ErrUnreachable, env.To)
	}
	body, err := stm.Encode(env)
	if err != nil {
		return fmt.Errorf("servers: encode envelope: %w", err)
	}
	select {
	case to.in <- body:
		return nil
	case <-to.done:
		return fmt.Errorf("%w: %s closed", ErrUnreachable, env.To)
	default:
		return fmt.Errorf("servers: transport %s: queue full", env.To)
	}
}

// Receive implements Transport.
func (t *InmemTransport) Receive(ctx context.Context) (ru.Envelope, error) {
	select {
	case body := <-t.in:
		return decodeAny[ru.Envelope](body)
	case <-t.done:
		return ru.Envelope{}, ErrClosed
	case <-ctx.Done():
		return ru.Envelope{}, ctx.Err()
	}
}

// Close implements Transport.
func (t *InmemTransport) Close() error {
	t.once.Do(func() {
		t.net.unbind(t)
		close(t.done)
	})
	return nil
}
