package pair

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/hashicorp/go-msgpack/v2/codec"

	"github.com/ftm-in-go/ftm/kernel/link"
)

// A pair has exactly two STM banks, named after its two nodes. Whoever holds
// a bank as primary mirrors it on that bank's service: the bank named after
// the dialer (the name that sorts first) on link.ServiceSTM, the other on
// link.ServiceSTMPeer. So one link carries both directions of mirroring and
// a bank keeps its service when it moves to the other node by a takeover.

// bankService is the link service that carries bank's mirroring in the pair
// of nodes a and b.
func bankService(bank, a, b string) link.Service {
	if bank == min(a, b) {
		return link.ServiceSTM
	}
	return link.ServiceSTMPeer
}

// kindHello is the first frame each side sends on the link.ServiceSTM
// channel of a new link, before any STM traffic (stm's kinds are 1–4).
const kindHello uint8 = 0xA0

// ErrHello is returned when the partner's inventory is missing or garbled.
var ErrHello = errors.New("pair: bad or missing STM hello from the partner")

// bankClaim is one bank a node holds as primary, as announced in its hello.
type bankClaim struct {
	Name  string `codec:"n"`
	Epoch uint64 `codec:"e"` // the bank's fencing epoch (a takeover adds one)
	Seq   uint64 `codec:"s"` // its last commit sequence
}

// hello is a node's inventory of primary banks at the start of a link.
type hello struct {
	Node  string      `codec:"node"`
	Banks []bankClaim `codec:"banks"`
}

var helloHandle = &codec.MsgpackHandle{}

func encodeHello(h hello) ([]byte, error) {
	var out []byte
	err := codec.NewEncoderBytes(&out, helloHandle).Encode(h)
	return out, err
}

func decodeHello(b []byte) (hello, error) {
	var h hello
	if err := codec.NewDecoderBytes(b, helloHandle).Decode(&h); err != nil {
		return hello{}, fmt.Errorf("%w: %w", ErrHello, err)
	}
	return h, nil
}

// exchangeHello sends ours on ch and returns the partner's, which must be
// the first frame it sent there.
func exchangeHello(ctx context.Context, ch link.Link, mine hello) (hello, error) {
	body, err := encodeHello(mine)
	if err != nil {
		return hello{}, err
	}
	if err := ch.Send(ctx, link.Frame{Kind: kindHello, Body: body}); err != nil {
		return hello{}, fmt.Errorf("send hello: %w", err)
	}
	f, err := ch.Recv(ctx)
	if err != nil {
		return hello{}, fmt.Errorf("receive hello: %w", err)
	}
	if f.Kind != kindHello {
		return hello{}, fmt.Errorf("%w: first frame has kind %d", ErrHello, f.Kind)
	}
	return decodeHello(f.Body)
}

// plan is what one side does with the banks after the hello exchange.
type plan struct {
	keep  []string // banks we hold and mirror to the partner
	drop  []string // banks we hold but the partner's copy supersedes
	serve []string // banks the partner keeps: we are their backup
}

// resolve decides, identically on both sides, who holds each bank. A bank
// claimed by both sides (a partition, or a restarted node's empty bank
// against the survivor's taken-over copy) goes to the copy with the higher
// epoch: a takeover always raises the epoch, and a primary that lost its
// backup could not commit since, so the higher epoch holds every reported
// commit. Equal epochs: the higher commit sequence, then the bank's owner.
// Only the pair's two bank names count.
func resolve(me, partner string, mine, theirs []bankClaim) plan {
	return resolveIn(link2{me: me, partner: partner, valid: func(n string) bool { return n == me || n == partner }}, mine, theirs)
}

// link2 is the two ends of a link and the banks that count on it.
type link2 struct {
	me, partner string
	valid       func(bank string) bool // a pair's two banks, or a cluster's
}

// resolveIn is resolve over the banks l.valid accepts (a cluster's: one
// per member).
func resolveIn(l link2, mine, theirs []bankClaim) plan {
	me, partner, valid := l.me, l.partner, l.valid
	their := map[string]bankClaim{}
	for _, c := range theirs {
		if valid(c.Name) {
			their[c.Name] = c
		}
	}
	var p plan
	for _, c := range mine {
		if !valid(c.Name) {
			continue
		}
		t, both := their[c.Name]
		delete(their, c.Name)
		switch {
		case !both || wins(c, me, t, partner):
			p.keep = append(p.keep, c.Name)
		default:
			p.drop = append(p.drop, c.Name)
			p.serve = append(p.serve, c.Name)
		}
	}
	for name := range their {
		p.serve = append(p.serve, name)
	}
	sort.Strings(p.keep)
	sort.Strings(p.drop)
	sort.Strings(p.serve)
	return p
}

// wins reports whether a (held by node na) supersedes b (held by nb).
func wins(a bankClaim, na string, b bankClaim, nb string) bool {
	switch {
	case a.Epoch != b.Epoch:
		return a.Epoch > b.Epoch
	case a.Seq != b.Seq:
		return a.Seq > b.Seq
	default: // the bank's owner; in a cluster, for another's bank, the first name
		return a.Name == na || (a.Name != nb && na < nb)
	}
}
