package link

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// vecCases are bodies split into parts in different ways, including
// empty parts, no parts, and a body past the 64 KiB bin16 boundary.
func vecCases() [][][]byte {
	big := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB
	return [][][]byte{
		nil,
		{[]byte("one part")},
		{[]byte("head|"), nil, []byte("middle|"), {}, []byte("tail")},
		{big[:1], big[1 : 70<<10], big[70<<10:]},
		{make([]byte, 300), make([]byte, 70)}, // bin8 → bin16 across parts
	}
}

// SendVec puts on the wire exactly what Send puts for the concatenated body.
func TestTCPSendVecEqualsSendOfConcatenation(t *testing.T) {
	d, a := tcpPair(t, Config{Name: "alpha", Secret: secret}, Config{Name: "beta", Secret: secret})
	ctx := ctxT(t)
	for i, parts := range vecCases() {
		f := Frame{Service: ServiceSTM, Kind: 7, Seq: uint64(1000 + i)}
		require.NoError(t, d.SendVec(ctx, f, parts))
		f.Body = bytes.Join(parts, nil)
		require.NoError(t, d.Send(ctx, f))
		gotVec, err := a.Recv(ctx)
		require.NoError(t, err)
		gotSend, err := a.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, f.Seq, gotVec.Seq)
		require.Equal(t, f.Kind, gotVec.Kind)
		require.Equal(t, f.Service, gotVec.Service)
		require.True(t, bytes.Equal(f.Body, gotVec.Body), "case %d: body differs", i)
		require.Equal(t, gotSend, gotVec, "case %d", i)
	}
}

// The frame head written for SendVec is byte for byte AppendFrame's.
func TestAppendFrameHeadMatchesAppendFrame(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 65535, 65536, 1 << 20} {
		f := Frame{Service: ServicePorts, Kind: 200, Seq: 1 << 40, Body: make([]byte, n)}
		whole := AppendFrame(nil, &f)
		head := appendFrameHead(nil, &f, n)
		require.Equal(t, whole[:len(head)], head, "body %d", n)
		require.Len(t, whole, len(head)+n)
	}
}

// The frame limit counts the sum of the parts, not any single part.
func TestTCPSendVecFrameLimitOverSum(t *testing.T) {
	d, a := tcpPair(t, Config{Name: "alpha", Secret: secret, MaxFrame: 4 << 10}, Config{Name: "beta", Secret: secret})
	ctx := ctxT(t)
	part := make([]byte, 1<<10)
	err := d.SendVec(ctx, Frame{Seq: 1}, [][]byte{part, part, part, part, part})
	require.ErrorIs(t, err, ErrFrameTooLarge, "five 1 KiB parts exceed a 4 KiB frame")
	require.NoError(t, d.Err(), "a refused send leaves the link up")
	require.NoError(t, d.SendVec(ctx, Frame{Seq: 2}, [][]byte{part, part}))
	f, err := a.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(2), f.Seq)
	require.Len(t, f.Body, 2<<10)
}

// SendVec does not keep or alter the caller's parts.
func TestTCPSendVecLeavesPartsAlone(t *testing.T) {
	d, a := tcpPair(t, Config{Name: "alpha", Secret: secret}, Config{Name: "beta", Secret: secret})
	ctx := ctxT(t)
	parts := [][]byte{[]byte("abc"), []byte("def")}
	require.NoError(t, d.SendVec(ctx, Frame{Seq: 1}, parts))
	require.Equal(t, [][]byte{[]byte("abc"), []byte("def")}, parts)
	for _, p := range d.vec {
		require.Nil(t, p, "the link pins no part after SendVec")
	}
	_, err := a.Recv(ctx)
	require.NoError(t, err)
}

// A Mux channel's SendVec tags the frame with its service and goes through
// the parent's SendVec (TCP) or its Send with the parts joined (MemLink).
func TestMuxSendVec(t *testing.T) {
	ctx := ctxT(t)
	d, a := tcpPair(t, Config{Name: "alpha", Secret: secret}, Config{Name: "beta", Secret: secret})
	ma, mb := NewMux(a, nil), NewMux(d, nil)
	mem1, mem2 := NewMemPair("x", "y", MemConfig{})
	mx, my := NewMux(mem1, nil), NewMux(mem2, nil)
	defer func() { ma.Close(); mb.Close(); mx.Close(); my.Close() }()
	for _, pair := range [][2]*Mux{{mb, ma}, {mx, my}} {
		src, err := pair[0].Channel(ServiceSTM)
		require.NoError(t, err)
		dst, err := pair[1].Channel(ServiceSTM)
		require.NoError(t, err)
		vs, ok := src.(VectorSender)
		require.True(t, ok, "a Mux channel is a VectorSender")
		for i, parts := range vecCases() {
			require.NoError(t, vs.SendVec(ctx, Frame{Service: ServicePorts, Kind: 3, Seq: uint64(i)}, parts))
			f, err := dst.Recv(ctx)
			require.NoError(t, err)
			require.Equal(t, ServiceSTM, f.Service, "tag forced to the channel's service")
			require.Equal(t, uint64(i), f.Seq)
			require.True(t, bytes.Equal(bytes.Join(parts, nil), f.Body), "case %d", i)
		}
		require.NoError(t, src.Close())
		require.ErrorIs(t, vs.SendVec(ctx, Frame{}, [][]byte{[]byte("x")}), ErrClosed)
	}
}
