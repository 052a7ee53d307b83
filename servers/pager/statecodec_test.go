package pager

import (
	"testing"

	"github.com/ftm-in-go/ftm/servers"
	"github.com/stretchr/testify/require"
)

// TestSegStateCodecRoundTrip: the segment's state decodes to what was
// encoded (empty maps stay non-nil), and every truncation of it fails as
// corrupt state.
func TestSegStateCodecRoundTrip(t *testing.T) {
	for _, st := range []segState{
		{PageSize: 8192, IDs: map[int]uint64{}, Pending: map[int][]byte{}},
		{PageSize: 8192, NPages: 40, IDs: map[int]uint64{0: 70, 39: 1 << 40}, Pending: map[int][]byte{3: {1, 2, 3}, 5: {}}, Drop: true},
	} {
		b, err := st.AppendState(nil)
		require.NoError(t, err)
		var got segState
		require.NoError(t, got.DecodeState(b))
		require.Equal(t, st, got)
		for n := range len(b) {
			var short segState
			require.ErrorIs(t, short.DecodeState(b[:n]), servers.ErrCorruptState, "truncated to %d of %d bytes", n, len(b))
		}
	}
}
