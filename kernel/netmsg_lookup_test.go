package kernel

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel/link"
)

// Lookups of a name on another node end when the link does, and a reply
// that comes too late is released.

// A lookup waiting for its reply when the peer's link is replaced must
// end (its request went over the old link and will never be answered),
// not wait for ever.
func TestLookupEndsWhenLinkReplaced(t *testing.T) {
	a, peer := rawPeer(t)
	client := newTask(t, a, "client")
	done := make(chan error, 1)
	go func() { _, err := client.Lookup(context.Background(), "b", "svc"); done <- err }()
	var c wireCtl
	require.Equal(t, kindLookup, rawRecv(t, peer, &c), "the request went out")
	la2, _ := link.NewMemPair("a", "b", link.MemConfig{})
	require.NoError(t, a.AttachLink(la2))
	require.ErrorIs(t, waitDone(t, done, "lookup over a replaced link"), ErrNoLink)
}

// A lookup answered after its caller gave up (ctx ended) must hand the
// found send right back to its home node, or the home's export holds a
// reference no one will ever release.
func TestLateLookupReplyIsReleased(t *testing.T) {
	a, peer := rawPeer(t)
	client := newTask(t, a, "client")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := client.Lookup(ctx, "b", "svc"); done <- err }()
	var req wireCtl
	require.Equal(t, kindLookup, rawRecv(t, peer, &req))
	cancel()
	require.ErrorIs(t, waitDone(t, done, "cancelled lookup"), context.Canceled)
	id := newPortID()
	rawSend(t, peer, kindLookupReply, &wireCtl{Req: req.Req, Found: true, Right: wireRight{ID: id, Home: "b", Kind: RightSend}})
	var rel wireCtl
	require.Equal(t, kindRelease, rawRecv(t, peer, &rel))
	require.Equal(t, id, rel.ID)
	require.Equal(t, 1, rel.N)
}
