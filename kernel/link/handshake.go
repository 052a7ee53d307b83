package link

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// Without TLS, the handshake authenticates both ends with the shared
// secret and never sends it: each side sends a hello with its name and a fresh 32-byte nonce,
// then proves knowledge of the secret with an HMAC-SHA256 over both nonces,
// both names and its role, which the other side checks. A role byte in the
// MAC stops a proof from being reflected back. The listener proves first.
const (
	handshakeMagic = "FTM-LINK-1"
	kindHello      = 1
	kindProof      = 2
	maxHandshake   = 4 << 10
	nonceLen       = 32
)

type role byte

const (
	roleDialer   role = 'D'
	roleListener role = 'L'
)

type hello struct {
	Magic string `codec:"m"`
	Name  string `codec:"n"`
	Nonce []byte `codec:"x"`
}

var mh codec.MsgpackHandle

// handshake authenticates conn's peer within cfg.HandshakeTimeout (by
// TLS when cfg.TLS is set, else by the shared secret); the end of ctx
// interrupts it. It returns the connection to use (conn itself, or TLS over
// it) and the peer's name. On success the connection has no deadline left;
// on failure the caller closes conn.
func handshake(ctx context.Context, conn net.Conn, cfg Config, me role) (net.Conn, string, error) {
	dl := time.Now().Add(cfg.HandshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	c, peer, err := conn, "", error(nil)
	if cfg.TLS != nil {
		c, peer, err = greetTLS(conn, cfg, me)
	} else {
		peer, err = greet(conn, cfg, me)
	}
	if !stop() {
		// The interruption ran or is running: its deadline may land after
		// any reset, so the connection cannot be handed on.
		return nil, "", fmt.Errorf("%w: handshake interrupted: %w", ErrHandshakeCut, context.Cause(ctx))
	}
	if err != nil {
		return nil, "", err
	}
	_ = conn.SetDeadline(time.Time{})
	return c, peer, nil
}

// greet runs both rounds of the handshake on conn and returns the peer's
// authenticated name.
func greet(conn net.Conn, cfg Config, me role) (string, error) {
	mine := hello{Magic: handshakeMagic, Name: cfg.Name, Nonce: make([]byte, nonceLen)}
	if _, err := rand.Read(mine.Nonce); err != nil {
		return "", err
	}
	if err := writeMsg(conn, kindHello, &mine); err != nil {
		return "", fmt.Errorf("%w: send hello: %w", ErrHandshakeCut, err)
	}
	var theirs hello
	if err := readMsg(conn, kindHello, &theirs); err != nil {
		return "", fmt.Errorf("%w: read hello: %w", ErrHandshakeCut, err)
	}
	if theirs.Magic != handshakeMagic || len(theirs.Nonce) != nonceLen || theirs.Name == "" {
		return "", fmt.Errorf("%w: peer is not an FTM link (bad hello)", ErrRejected)
	}
	if bytes.Equal(theirs.Nonce, mine.Nonce) {
		return "", fmt.Errorf("%w: peer echoed our nonce", ErrRejected)
	}
	if err := exchangeProofs(conn, cfg.Secret, greeting{me: me, mine: &mine, theirs: &theirs}); err != nil {
		return "", err
	}
	return theirs.Name, nil
}

// greeting is the first round of a handshake as one side saw it: the role
// it plays, the hello it sent and the hello it got back. Both proofs are
// computed from it.
type greeting struct {
	me     role
	mine   *hello
	theirs *hello
}

// myProof is the proof this side sends.
func (g greeting) myProof(secret []byte) []byte { return proof(secret, g.me, g.mine, g.theirs) }

// theirProof is the proof this side expects from the other.
func (g greeting) theirProof(secret []byte) []byte {
	other := roleListener
	if g.me == roleListener {
		other = roleDialer
	}
	return proof(secret, other, g.theirs, g.mine)
}

// exchangeProofs: the listener sends its proof first, then checks the
// dialer's; the dialer checks, then answers. Proofs are bound to both fresh
// nonces, so nothing seen in one handshake can be replayed in another.
func exchangeProofs(conn net.Conn, secret []byte, g greeting) error {
	myProof := g.myProof(secret)
	want := g.theirProof(secret)
	send := func() error { return writeMsg(conn, kindProof, myProof) }
	check := func() error {
		var got []byte
		if err := readMsg(conn, kindProof, &got); err != nil {
			return fmt.Errorf("%w: read proof from %q: %w", ErrHandshakeCut, g.theirs.Name, err)
		}
		if !hmac.Equal(got, want) {
			return fmt.Errorf("%w: %q does not know the pair's secret", ErrRejected, g.theirs.Name)
		}
		return nil
	}
	if g.me == roleListener {
		if err := send(); err != nil {
			return fmt.Errorf("%w: send proof: %w", ErrHandshakeCut, err)
		}
		return check()
	}
	// The dialer answers even when the listener's proof is wrong, so the
	// listener's log names the peer that failed instead of seeing a hang-up.
	err := check()
	if serr := send(); err == nil && serr != nil {
		err = fmt.Errorf("%w: send proof: %w", ErrHandshakeCut, serr)
	}
	return err
}

// proof is what side r (with hello own, talking to peer) sends.
func proof(secret []byte, r role, own, peer *hello) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(handshakeMagic))
	m.Write([]byte{byte(r)})
	for _, p := range [][]byte{own.Nonce, peer.Nonce, []byte(own.Name), []byte(peer.Name)} {
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(len(p)>>24), byte(len(p)>>16), byte(len(p)>>8), byte(len(p))
		m.Write(n[:])
		m.Write(p)
	}
	return m.Sum(nil)
}

func writeMsg(conn net.Conn, kind uint8, v any) error {
	var body []byte
	if err := codec.NewEncoderBytes(&body, &mh).Encode(v); err != nil {
		return err
	}
	_, err := conn.Write(AppendFrame(nil, &Frame{Kind: kind, Body: body}))
	return err
}

func readMsg(conn net.Conn, kind uint8, v any) error {
	f, err := ReadFrame(conn, maxHandshake)
	if err != nil {
		return err
	}
	if f.Service != 0 || f.Kind != kind {
		return fmt.Errorf("unexpected frame (service %d, kind %d)", f.Service, f.Kind)
	}
	return codec.NewDecoderBytes(f.Body, &mh).Decode(v)
}
