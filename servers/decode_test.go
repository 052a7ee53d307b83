package servers

import (
	"context"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/stretchr/testify/require"
)

func FuzzDecodeRequest(f *testing.F) {
	good, _ := stm.Encode(request{Method: "add", Client: "c", Seq: 1, Body: []byte{0x90}})
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0xc1})
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Add(good[:len(good)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodeRequest(b)
		if err == nil && (req.Method == "" || req.Client == "" || req.Seq == 0) {
			t.Fatalf("accepted an incomplete request %+v", req)
		}
	})
}

// Malformed requests sent to a live server get an error reply and the
// server keeps serving.
func TestMalformedRequestsGetErrorReplies(t *testing.T) {
	w := newWorld(t)
	w.serve("s", "kv")
	h := w.host("x")
	port, err := h.names.Resolve(w.ctx, "kv")
	require.NoError(t, err)
	replyPort, err := h.task.AllocatePort()
	require.NoError(t, err)
	enc := func(r request) []byte { b, _ := stm.Encode(r); return b }
	cases := map[string]struct {
		id   uint32
		body []byte
	}{
		"empty":           {msgRequest, nil},
		"garbage":         {msgRequest, []byte{0xc1, 0xff, 0x00}},
		"truncated":       {msgRequest, enc(request{Method: "add", Client: "c", Seq: 1})[:5]},
		"huge map header": {msgRequest, []byte{0xdf, 0xff, 0xff, 0xff, 0xff}},
		"no sequence":     {msgRequest, enc(request{Method: "add", Client: "c"})},
		"unknown method":  {msgRequest, enc(request{Method: "nope", Client: "c", Seq: 1})},
		"bad argument":    {msgRequest, enc(request{Method: "add", Client: "c", Seq: 2, Body: []byte{0xc1}})},
		"wrong id":        {42, enc(request{Method: "add", Client: "c", Seq: 3})},
	}
	for name, tc := range cases {
		m := kernel.NewMessage()
		m.Dest, m.Reply, m.ReplyDisp, m.ID, m.Body = port, replyPort, kernel.MakeSendOnce, tc.id, tc.body
		require.NoError(t, h.task.Send(w.ctx, m), name)
		ctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
		r, err := h.task.Receive(ctx, replyPort)
		cancel()
		require.NoError(t, err, name)
		rep, err := stm.Decode[reply](r.Body)
		require.NoError(t, err, name)
		require.Equal(t, statusBad, rep.Status, name)
		require.NotEmpty(t, rep.Err, name)
	}
	c := w.external("x", "ext")
	n, err := mAdd("kv").Call(w.ctx, c, addReq{Key: "k", By: 3})
	require.NoError(t, err, "the server still serves")
	require.Equal(t, 3, n)
}
