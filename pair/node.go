package pair

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/internal/takeoverid"
	"github.com/ftm-in-go/ftm/kernel/clock"
	"github.com/ftm-in-go/ftm/kernel/heartbeat"
	"github.com/ftm-in-go/ftm/kernel/link"
)

// Listener accepts links from the partner.
type Listener interface {
	Accept(ctx context.Context) (link.Link, error)
	Close() error
}

// Dialer opens a link to the partner's address.
type Dialer func(ctx context.Context, addr string) (link.Link, error)

// Hooks are the layers above: they are called from the node's goroutine, one
// at a time, in event order.
type Hooks struct {
	// PartnerJoined is called with the new link, split by service; the hook
	// opens the channels it serves (ports, STM mirroring). It returns when
	// they are set up. The heartbeat channel is the node's own.
	PartnerJoined func(ctx context.Context, mux *link.Mux, epoch uint64)
	// PartnerLost is called once per lost link, after the detector declared
	// the partner dead; takeover starts here (it must not wait for long:
	// the next link waits for the hook).
	PartnerLost func(ctx context.Context, d *heartbeat.Death, epoch uint64)
}

// Config describes one node of a pair.
type Config struct {
	Name        string
	PartnerName string
	PartnerAddr string        // dialled when Name sorts before PartnerName
	Redial      time.Duration // first pause between dial attempts (default 50ms)
	RedialMax   time.Duration // longest pause between dial attempts (default 500ms, at least Redial)
	Heartbeat   heartbeat.Config
	Listener    Listener // accepts the partner's link (used when we do not dial)
	Dial        Dialer
	Clock       clock.Clock
	Logger      *zap.Logger
	Hooks       Hooks
}

// Status is a snapshot for operators.
type Status struct {
	Name       string    `json:"name"`
	Partner    string    `json:"partner"`
	Linked     bool      `json:"linked"`
	Epoch      uint64    `json:"epoch"`
	LinkedAt   time.Time `json:"linked_at,omitempty"`
	LostAt     time.Time `json:"lost_at,omitempty"`
	LostCount  int       `json:"lost_count"`
	StartedAt  time.Time `json:"started_at"`
	LastCause  string    `json:"last_cause,omitempty"`
	Dialer     bool      `json:"dialer"`
	JoinsCount int       `json:"joins"`
}

// Errors returned by Run.
var ErrBadConfig = errors.New("pair: bad configuration")

// Node is one member of a stable pair.
type Node struct {
	cfg Config
	log *zap.Logger

	mu     sync.Mutex // guards status
	status Status
}

// New checks cfg and returns a node ready to Run.
func New(cfg Config) (*Node, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Redial <= 0 {
		cfg.Redial = 50 * time.Millisecond
	}
	if cfg.RedialMax <= 0 {
		cfg.RedialMax = defaultRedialMax
	}
	cfg.RedialMax = max(cfg.RedialMax, cfg.Redial)
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	log := cfg.Logger.With(zap.String("node", cfg.Name), zap.String("partner", cfg.PartnerName))
	n := &Node{cfg: cfg, log: log}
	n.status = Status{Name: cfg.Name, Partner: cfg.PartnerName, StartedAt: cfg.Clock.Now(), Dialer: cfg.dials()}
	return n, nil
}

func (c Config) dials() bool { return c.Name < c.PartnerName }

func (c Config) check() error {
	switch {
	case c.Name == "" || c.PartnerName == "":
		return fmt.Errorf("%w: node and partner need names", ErrBadConfig)
	case c.Name == c.PartnerName:
		return fmt.Errorf("%w: node and partner are both named %q", ErrBadConfig, c.Name)
	case c.dials() && (c.Dial == nil || c.PartnerAddr == ""):
		return fmt.Errorf("%w: node %s dials its partner but has no dialer or address", ErrBadConfig, c.Name)
	case !c.dials() && c.Listener == nil:
		return fmt.Errorf("%w: node %s accepts its partner but has no listener", ErrBadConfig, c.Name)
	}
	return nil
}

// Status returns a snapshot of the node's view of the pair.
func (n *Node) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.status
}

// Run keeps the pair linked until ctx ends: connect, serve the link until
// the partner is declared dead, report, and connect again.
func (n *Node) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		l, err := n.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		n.serve(ctx, l)
	}
	return nil
}

// connect returns the next link to the partner: dialled with retries, or
// accepted.
func (n *Node) connect(ctx context.Context) (link.Link, error) {
	if !n.cfg.dials() {
		l, err := n.cfg.Listener.Accept(ctx)
		if err != nil {
			return nil, fmt.Errorf("pair: accept partner link: %w", err)
		}
		return l, nil
	}
	refusals := 0
	for attempt := 1; ; attempt++ {
		l, err := n.cfg.Dial(ctx, n.cfg.PartnerAddr)
		if err == nil {
			return l, nil
		}
		// Only a partner that answered and proved it does not share our
		// secret counts: a timeout or a reset (a partner dying during the
		// handshake, a listener busy with other connections) proves
		// nothing, so the dialer never gives up on those.
		if refusals = refusalsAfter(refusals, err); refusals >= maxRefusals {
			return nil, fmt.Errorf("pair: partner %s refused us %d times: %w", n.cfg.PartnerName, refusals, err)
		}
		pause := n.redialPause(attempt)
		n.log.Info("partner not reachable yet", zap.String("addr", n.cfg.PartnerAddr), zap.Int("attempt", attempt),
			zap.Duration("retry_in", pause), zap.Error(err))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-n.cfg.Clock.After(pause):
		}
	}
}

// defaultRedialMax is RedialMax's default: short enough that a restarted
// partner is linked again within half a second of listening.
const defaultRedialMax = 500 * time.Millisecond

// maxRefusals is how many consecutive refusals (link.ErrRejected) end Run.
const maxRefusals = 5

func refusalsAfter(n int, err error) int {
	if errors.Is(err, link.ErrRejected) {
		return n + 1
	}
	return 0
}

// redialPause is the pause after failed attempt number attempt: Redial
// doubled per consecutive failure up to RedialMax, drawn at random from its
// upper half so that redials do not fall into step.
func (n *Node) redialPause(attempt int) time.Duration {
	d := n.cfg.Redial
	for i := 1; i < attempt && d < n.cfg.RedialMax; i++ {
		d *= 2
	}
	d = min(d, n.cfg.RedialMax)
	return d/2 + rand.N(d/2+1)
}

// serve runs one link's life: joined hook, heartbeats, lost hook.
func (n *Node) serve(ctx context.Context, l link.Link) {
	if l.Peer() != n.cfg.PartnerName {
		n.log.Warn("link from a node that is not our partner refused", zap.String("peer", l.Peer()))
		_ = l.Close()
		return
	}
	mux := link.NewMux(l, n.log)
	hb, err := mux.Channel(link.ServiceHeartbeat)
	if err != nil {
		_ = mux.Close()
		<-mux.Done()
		return
	}
	epoch := n.joined(l)
	n.log.Info("partner joined", zap.String("peer", l.Peer()), zap.Uint64("epoch", epoch))
	if h := n.cfg.Hooks.PartnerJoined; h != nil {
		h(ctx, mux, epoch)
	}
	d := heartbeat.Watcher{Clock: n.cfg.Clock, Config: n.cfg.Heartbeat, Log: n.log}.Watch(ctx, hb)
	_ = mux.Close()
	<-mux.Done()  // its router has ended: nothing of this link runs after serve
	if d == nil { // ctx ended: a shutdown, not a death
		return
	}
	epoch = n.lost(d)
	ctx = takeoverid.With(ctx, takeoverid.New(d.Peer, d.At)) // the takeover that follows logs it
	n.log.Warn("partner lost", zap.Error(d.Cause), zap.Duration("silence", d.Silence), zap.Uint64("epoch", epoch), takeoverid.Field(ctx))
	if h := n.cfg.Hooks.PartnerLost; h != nil {
		h(ctx, d, epoch)
	}
}

func (n *Node) joined(l link.Link) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.status.Linked = true
	n.status.LinkedAt = n.cfg.Clock.Now()
	n.status.JoinsCount++
	return n.status.Epoch
}

func (n *Node) lost(d *heartbeat.Death) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.status.Linked = false
	n.status.LostAt = d.At
	n.status.LostCount++
	n.status.Epoch++
	n.status.LastCause = d.Cause.Error()
	return n.status.Epoch
}
