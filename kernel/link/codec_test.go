package link

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestFrameRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f := Frame{
			Service: Service(rapid.Uint8().Draw(t, "service")),
			Kind:    rapid.Uint8().Draw(t, "kind"),
			Seq:     rapid.Uint64().Draw(t, "seq"),
			Body:    rapid.SliceOfN(rapid.Byte(), 0, 70000).Draw(t, "body"),
		}
		wire := AppendFrame(nil, &f)
		got, err := ReadFrame(bytes.NewReader(wire), DefaultMaxFrame)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if got.Service != f.Service || got.Kind != f.Kind || got.Seq != f.Seq || !bytes.Equal(got.Body, f.Body) {
			t.Fatalf("round trip changed the frame: %+v -> %+v", f, got)
		}
	})
}

// The hand-written encoding is plain msgpack: the reference library reads it.
func TestFrameIsMsgpack(t *testing.T) {
	f := Frame{Service: ServiceSTM, Kind: 200, Seq: 1 << 40, Body: []byte("hello")}
	wire := AppendFrame(nil, &f)
	var arr []any
	var mh codec.MsgpackHandle
	require.NoError(t, codec.NewDecoderBytes(wire[4:], &mh).Decode(&arr))
	require.Len(t, arr, 4)
	require.EqualValues(t, ServiceSTM, arr[0])
	require.EqualValues(t, 200, arr[1])
	require.EqualValues(t, uint64(1<<40), arr[2])
	require.Equal(t, []byte("hello"), arr[3])
}

// And frames encoded by the reference library decode here.
func TestDecodeFrameFromReferenceEncoder(t *testing.T) {
	var b []byte
	mh := codec.MsgpackHandle{}
	mh.WriteExt = true // bin, not raw str, for []byte
	require.NoError(t, codec.NewEncoderBytes(&b, &mh).Encode([]any{uint8(3), uint8(7), uint64(99), []byte{1, 2, 3}}))
	f, err := DecodeFrame(b)
	require.NoError(t, err)
	require.Equal(t, Frame{Service: ServiceHeartbeat, Kind: 7, Seq: 99, Body: []byte{1, 2, 3}}, f)
}

func TestReadFrameRefusesOversizeBeforeAllocating(t *testing.T) {
	wire := []byte{0x7f, 0xff, 0xff, 0xff} // claims 2 GiB, sends nothing
	_, err := ReadFrame(bytes.NewReader(wire), 1<<20)
	require.ErrorIs(t, err, ErrFrameTooLarge)
}

func TestDecodeFrameRejectsMalformed(t *testing.T) {
	good := AppendFrame(nil, &Frame{Service: 1, Kind: 2, Seq: 300, Body: []byte("body")})[4:]
	cases := map[string][]byte{
		"empty":          {},
		"not an array":   {0x93, 1, 2, 3},
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(append([]byte{}, good...), 0),
		"service as str": {0x94, 0xa1, 'x', 2, 3, 0xc4, 0},
		"kind too big":   {0x94, 1, 0xcd, 0x01, 0x00, 3, 0xc4, 0},
		"body not bin":   {0x94, 1, 2, 3, 0x01},
		"bin overruns":   {0x94, 1, 2, 3, 0xc6, 0xff, 0xff, 0xff, 0xff},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeFrame(b)
			require.ErrorIs(t, err, ErrCorruptFrame)
		})
	}
}

func TestReadFrameTruncatedBody(t *testing.T) {
	wire := AppendFrame(nil, &Frame{Body: make([]byte, 100)})
	_, err := ReadFrame(bytes.NewReader(wire[:50]), DefaultMaxFrame)
	require.ErrorIs(t, err, ErrCorruptFrame)
	_, err = ReadFrame(bytes.NewReader(nil), DefaultMaxFrame)
	require.True(t, errors.Is(err, io.EOF), "a clean end between frames is EOF, got %v", err)
}

// FuzzDecodeFrame: no input panics, allocates past the limit, or decodes to a
// frame that does not re-encode to the same bytes.
func FuzzDecodeFrame(f *testing.F) {
	f.Add(AppendFrame(nil, &Frame{Service: 1, Kind: 1, Seq: 1, Body: []byte("x")}))
	f.Add([]byte{0, 0, 0, 5, 0x94, 1, 2, 3, 0xc0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, wire []byte) {
		const max = 1 << 16
		fr, err := ReadFrame(bytes.NewReader(wire), max)
		if err != nil {
			return
		}
		if len(fr.Body) > max {
			t.Fatalf("body of %d bytes passed a %d limit", len(fr.Body), max)
		}
		again, err := DecodeFrame(AppendFrame(nil, &fr)[4:])
		if err != nil || again.Seq != fr.Seq || !bytes.Equal(again.Body, fr.Body) {
			t.Fatalf("re-encoding changed the frame: %v", err)
		}
	})
}
