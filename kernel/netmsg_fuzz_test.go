package kernel

import (
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"

	"github.com/ftm-in-go/ftm/kernel/link"
)

// FuzzNetmsgFrame feeds one ServicePorts frame from a peer to a node's
// netmsg: whatever the kind and body, handling it must not panic, must not
// conjure a receive right, and the node must shut down cleanly (goleak runs
// after the test binary). Seed corpus in testdata/fuzz/FuzzNetmsgFrame plus
// well-formed frames of every kind added here.
//
//	go test -run '^$' -fuzz FuzzNetmsgFrame -fuzztime 30s ./kernel/
func FuzzNetmsgFrame(f *testing.F) {
	var mh codec.MsgpackHandle
	enc := func(v any) []byte {
		var b []byte
		_ = codec.NewEncoderBytes(&b, &mh).Encode(v)
		return b
	}
	id := newPortID()
	f.Add(kindLookup, enc(&wireCtl{Req: 1, Name: "svc"}))
	f.Add(kindLookupReply, enc(&wireCtl{Req: 1, Found: true, Right: wireRight{ID: id, Home: "b", Kind: RightSend}}))
	f.Add(kindRelease, enc(&wireCtl{ID: id, N: 3}))
	f.Add(kindDead, enc(&wireCtl{ID: id}))
	f.Add(kindMsg, enc(&wireMsg{Dest: id, Body: []byte("x"), Rights: []wireRight{{ID: id, Home: "a", Kind: RightReceive}}}))
	f.Add(kindMsg, enc(&wireMsg{Dest: id, Reply: &wireRight{ID: id, Home: "b", Kind: RightSendOnce}, OOL: [][]byte{{1, 2}}}))
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		n := NewNode(Config{Name: "a"})
		defer n.Shutdown()
		server, _ := n.NewTask("server")
		svc, _ := server.AllocatePort()
		if err := server.Register("svc", svc); err != nil {
			t.Fatal(err)
		}
		la, lb := link.NewMemPair("a", "b", link.MemConfig{})
		defer lb.Close()
		if err := n.AttachLink(la); err != nil {
			t.Fatal(err)
		}
		n.mu.Lock()
		lr := n.net.peers["b"].lr
		n.mu.Unlock()
		_ = n.net.handle(lr, link.Frame{Service: link.ServicePorts, Kind: kind, Body: body})
		if typ, err := server.Type(svc); err != nil || typ != RightReceive {
			t.Fatalf("the service lost its receive right: %v %v", typ, err)
		}
	})
}
