package names

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ftm-in-go/ftm/kernel"
	"go.uber.org/zap"
)

// ErrNotFound is returned by Resolve when no node has the name bound.
var ErrNotFound = errors.New("names: name not bound")

// Service binds persistent port names to kernel ports.
type Service interface {
	// Register binds name to port (a receive or send right in the service's
	// task), replacing an earlier binding: a restarted server re-binds.
	Register(name string, port kernel.Name) error
	// Resolve returns a send right (in the service's task) to the port
	// currently bound to name. Answers may be cached.
	Resolve(ctx context.Context, name string) (kernel.Name, error)
	// Forget drops a cached answer that turned out dead, so the next
	// Resolve asks again.
	Forget(name string, port kernel.Name)
}

// keyPrefix keeps persistent names apart from other kernel registrations.
const keyPrefix = "ftm.names/"

// Kernel is the embedded Service over the kernel registry.
type Kernel struct {
	task *kernel.Task
	log  *zap.Logger

	mu    sync.Mutex             // guards cache
	cache map[string]kernel.Name // name → send right held by task
}

var _ Service = (*Kernel)(nil)

// NewKernel returns a name service acting for task t.
func NewKernel(t *kernel.Task, log *zap.Logger) *Kernel {
	if log == nil {
		log = zap.NewNop()
	}
	return &Kernel{task: t, log: log, cache: map[string]kernel.Name{}}
}

// Task returns the task the service resolves names into.
func (k *Kernel) Task() *kernel.Task { return k.task }

// Register binds name to port on this node.
func (k *Kernel) Register(name string, port kernel.Name) error {
	if name == "" {
		return fmt.Errorf("names: register: empty name")
	}
	if err := k.task.Register(keyPrefix+name, port); err != nil {
		return fmt.Errorf("names: register %q: %w", name, err)
	}
	k.Forget(name, kernel.NameNull)
	return nil
}

// Resolve finds name on this node, then on each linked peer.
func (k *Kernel) Resolve(ctx context.Context, name string) (kernel.Name, error) {
	k.mu.Lock()
	if p, ok := k.cache[name]; ok {
		k.mu.Unlock()
		return p, nil
	}
	k.mu.Unlock()
	node := k.task.Node()
	nodes := append([]string{node.Name()}, node.Peers()...)
	var lastErr error
	for _, n := range nodes {
		p, err := k.task.Lookup(ctx, n, keyPrefix+name)
		if err != nil {
			if p != kernel.NameNull {
				_ = k.task.Deallocate(p)
			}
			lastErr = err
			if ctx.Err() != nil {
				return kernel.NameNull, fmt.Errorf("names: resolve %q: %w", name, ctx.Err())
			}
			continue
		}
		k.mu.Lock()
		if old, ok := k.cache[name]; ok { // raced with another Resolve
			k.mu.Unlock()
			_ = k.task.Deallocate(p)
			return old, nil
		}
		k.cache[name] = p
		k.mu.Unlock()
		return p, nil
	}
	k.log.Debug("resolve failed", zap.String("name", name), zap.Error(lastErr))
	return kernel.NameNull, fmt.Errorf("names: resolve %q: %w", name, ErrNotFound)
}

// Forget drops the cached answer for name if it is port (any port when
// port is NameNull) and releases its send right.
func (k *Kernel) Forget(name string, port kernel.Name) {
	k.mu.Lock()
	p, ok := k.cache[name]
	if ok && (port == kernel.NameNull || p == port) {
		delete(k.cache, name)
	} else {
		ok = false
	}
	k.mu.Unlock()
	if ok {
		_ = k.task.Deallocate(p)
	}
}
