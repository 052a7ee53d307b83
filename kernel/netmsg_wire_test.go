package kernel

import (
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/stretchr/testify/require"
)

// wireSamples are wire messages and control bodies covering every field.
func wireSamples() ([]wireMsg, []wireCtl) {
	id, other := newPortID(), newPortID()
	msgs := []wireMsg{
		{Dest: id},
		{Dest: id, ID: 7, RU: 1 << 40, From: 3, Seq: 1 << 33, Body: []byte("hello")},
		{Dest: id, Reply: &wireRight{ID: other, Home: "b", Kind: RightSendOnce}, Body: make([]byte, 70000),
			Rights: []wireRight{{ID: other, Home: "a", Kind: RightSend}, {ID: id, Home: "b", Kind: RightReceive}},
			OOL:    [][]byte{{1, 2}, make([]byte, 300)}},
	}
	ctls := []wireCtl{
		{},
		{ID: id},
		{ID: id, N: 3},
		{ID: id, N: -5},
		{ID: id, N: -1 << 20},
		{Req: 1, Name: "svc"},
		{Req: 1 << 50, Found: true, Right: wireRight{ID: other, Home: "a-long-node-name-over-31-bytes-xx", Kind: RightSend}},
	}
	return msgs, ctls
}

// The hand-written encoding is plain msgpack: a general library decodes
// it to the same values, and what that library writes (with or without
// its bin extension) decodes here to the same values.
func TestWireMatchesMsgpackLibrary(t *testing.T) {
	msgs, ctls := wireSamples()
	for _, writeExt := range []bool{false, true} {
		mh := codec.MsgpackHandle{WriteExt: writeExt}
		for _, w := range msgs {
			var lib wireMsg
			require.NoError(t, codec.NewDecoderBytes(w.appendTo(nil), &mh).Decode(&lib))
			requireSameMsg(t, w, lib)
			var b []byte
			require.NoError(t, codec.NewEncoderBytes(&b, &mh).Encode(&w))
			var got wireMsg
			require.NoError(t, decodeWireMsg(b, &got))
			requireSameMsg(t, w, got)
		}
		for _, c := range ctls {
			var lib wireCtl
			require.NoError(t, codec.NewDecoderBytes(c.appendTo(nil), &mh).Decode(&lib))
			require.Equal(t, c, lib)
			var b []byte
			require.NoError(t, codec.NewEncoderBytes(&b, &mh).Encode(&c))
			var got wireCtl
			require.NoError(t, decodeWireCtl(b, &got))
			require.Equal(t, c, got)
		}
	}
}

// requireSameMsg compares two wire messages, an empty slice equal to nil.
func requireSameMsg(t *testing.T, want, got wireMsg) {
	t.Helper()
	require.Equal(t, want.Dest, got.Dest)
	require.Equal(t, want.Reply, got.Reply)
	require.Equal(t, [4]uint64{uint64(want.ID), want.RU, want.From, want.Seq}, [4]uint64{uint64(got.ID), got.RU, got.From, got.Seq})
	require.Equal(t, len(want.Body), len(got.Body))
	require.Equal(t, string(want.Body), string(got.Body))
	require.Equal(t, want.Rights, got.Rights)
	require.Equal(t, len(want.OOL), len(got.OOL))
	for i := range want.OOL {
		require.Equal(t, string(want.OOL[i]), string(got.OOL[i]))
	}
}

// Malformed bodies are refused with ErrCorruptWire: truncations of every
// sample at every length, a bad port id, and counts past the frame's end.
func TestWireDecodeRefusesMalformed(t *testing.T) {
	msgs, ctls := wireSamples()
	for _, w := range msgs[:2] {
		b := w.appendTo(nil)
		for n := 0; n < len(b); n++ {
			var got wireMsg
			require.ErrorIs(t, decodeWireMsg(b[:n], &got), ErrCorruptWire, "cut at %d", n)
		}
		var got wireMsg
		require.ErrorIs(t, decodeWireMsg(append(b, 0), &got), ErrCorruptWire, "trailing byte")
	}
	for _, c := range ctls[1:] {
		b := c.appendTo(nil)
		for n := 0; n < len(b); n++ {
			var got wireCtl
			require.ErrorIs(t, decodeWireCtl(b[:n], &got), ErrCorruptWire, "cut at %d", n)
		}
	}
	for _, b := range [][]byte{
		{0x81, 0xa1, 'd', 0xc4, 0x02, 1, 2},                                                 // 2-byte port id
		{0xdf, 0xff, 0xff, 0xff, 0xff},                                                      // map of 4G entries
		{0x81, 0xa1, 'x', 0xdd, 0x7f, 0xff, 0xff, 0xff},                                     // array of 2G rights
		{0x81, 0xa1, 'n', 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},             // id past uint32
		{0x81, 0xa1, 'z', 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0xc0}, // nested too deep
		{0x81, 0x01, 0x02}, // a key that is not a string
	} {
		var got wireMsg
		require.ErrorIs(t, decodeWireMsg(b, &got), ErrCorruptWire, "% x", b)
	}
}

// FuzzNetmsgWire: decoding any bytes returns a value or ErrCorruptWire,
// never panics; what decodes re-encodes to a body that decodes to the same
// value.
//
//	go test -run '^$' -fuzz FuzzNetmsgWire -fuzztime 30s ./kernel/
func FuzzNetmsgWire(f *testing.F) {
	msgs, ctls := wireSamples()
	for _, w := range msgs[:2] {
		f.Add(false, w.appendTo(nil))
	}
	for _, c := range ctls {
		f.Add(true, c.appendTo(nil))
	}
	f.Fuzz(func(t *testing.T, ctl bool, b []byte) {
		if ctl {
			var c, again wireCtl
			if decodeWireCtl(b, &c) != nil {
				return
			}
			require.NoError(t, decodeWireCtl(c.appendTo(nil), &again))
			require.Equal(t, c, again)
			return
		}
		var w, again wireMsg
		if decodeWireMsg(b, &w) != nil {
			return
		}
		require.NoError(t, decodeWireMsg(w.appendTo(nil), &again))
		requireSameMsg(t, w, again)
	})
}
