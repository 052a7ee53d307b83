package servers

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// roundTrip encodes each value after a prefix, decodes it back, checks the
// rest is what followed, and that every truncation of the encoding is
// refused as corrupt rather than misread.
func roundTrip[T any](t *testing.T, c Codec[T], values ...T) {
	t.Helper()
	for _, v := range values {
		b, err := c.Append([]byte{0xee}, v)
		require.NoError(t, err)
		b = append(b, 0x77)
		got, rest, err := c.Read(b[1:])
		require.NoError(t, err)
		require.Equal(t, v, got)
		require.Equal(t, []byte{0x77}, rest)
		for n := 1; n < len(b)-1; n++ {
			_, _, err := c.Read(b[1:n])
			require.ErrorIs(t, err, ErrCorruptState, "truncated to %d bytes", n-1)
		}
	}
}

// stamp encodes itself (encoding.BinaryAppender, BinaryUnmarshaler).
type stamp struct{ At time.Time }

func (s *stamp) AppendBinary(b []byte) ([]byte, error) { return s.At.AppendBinary(b) }
func (s *stamp) UnmarshalBinary(b []byte) error        { return s.At.UnmarshalBinary(b) }

// Each codec a Map or Log picks gives back what it was given, delimits
// itself, and refuses a truncated encoding.
func TestCodecsRoundTrip(t *testing.T) {
	roundTrip(t, StringCodec, "", "k", string(make([]byte, 300)))
	roundTrip(t, BytesCodec, nil, []byte{}, []byte("value"))
	roundTrip(t, BoolCodec, true, false)
	roundTrip(t, Int64Codec, 0, -1, math.MaxInt64, math.MinInt64)
	roundTrip(t, IntCodec, 0, 42, -42)
	roundTrip(t, Int32Codec, math.MaxInt32, math.MinInt32)
	roundTrip(t, Uint64Codec, 0, math.MaxUint64)
	roundTrip(t, Uint32Codec, math.MaxUint32)
	roundTrip(t, Float64Codec, 0, math.Inf(-1), 1.5)

	sc, reflective := codecFor[stamp]()
	require.False(t, reflective)
	roundTrip(t, sc, stamp{At: time.Unix(1700000000, 5).UTC()})
	type item struct {
		SKU string
		N   []int
	}
	ic, reflective := codecFor[item]()
	require.True(t, reflective, "msgpack for a plain struct")
	roundTrip(t, ic, item{SKU: "a", N: []int{1, 2}})
	kc, reflective := codecFor[string]()
	require.False(t, reflective)
	require.Equal(t, StringCodec, kc)

	big, _ := Int64Codec.Append(nil, math.MaxInt64)
	_, _, err := Int32Codec.Read(big)
	require.ErrorIs(t, err, ErrCorruptState, "an int64 is not an int32")
}

// The framework's own encoding of a stable value (a StateCodec state and
// the duplicate table) decodes to what was encoded; msgpack data of an
// older form still decodes; truncated data is refused.
func TestStableEncodingRoundTrip(t *testing.T) {
	st := stable[coded]{State: coded{N: 7}, Dups: map[string]map[uint64]savedReply{
		"c1": {3: {Status: statusOK, Body: []byte("r")}, 4: {Status: statusAppError, Err: "boom", Code: "x"}},
		"c2": {},
	}}
	b, err := encodeStable(&st)
	require.NoError(t, err)
	require.Equal(t, byte(stableMagic), b[0])
	back, err := decodeStable[coded](b)
	require.NoError(t, err)
	require.Equal(t, st.Dups, back.Dups)
	require.Equal(t, int64(7), back.State.N)
	for n := 1; n < len(b); n++ {
		_, err := decodeStable[coded](b[:n])
		require.Error(t, err, "truncated to %d bytes", n)
	}

	plain := stable[counters]{State: counters{N: map[string]int{"a": 1}}, Dups: st.Dups}
	pb, err := encodeStable(&plain)
	require.NoError(t, err)
	require.NotEqual(t, byte(stableMagic), pb[0], "a state without a StateCodec stays msgpack")
	pback, err := decodeStable[counters](pb)
	require.NoError(t, err)
	require.Equal(t, plain.State, pback.State)
}
