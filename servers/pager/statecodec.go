package pager

import (
	"fmt"

	"github.com/ftm-in-go/ftm/servers"
)

// segState encodes itself (servers.StateCodec): S is written at every
// precommit, and its page directory (IDs) grows with the segment, so it is
// encoded without reflection. Format: page size, page count, drop flag,
// then IDs as (page, object) pairs and Pending as (page, image) pairs,
// each list preceded by its length.

var _ servers.StateCodec = (*segState)(nil)

// AppendState appends S's encoding to b.
func (st *segState) AppendState(b []byte) ([]byte, error) {
	b, _ = servers.IntCodec.Append(b, st.PageSize)
	b, _ = servers.IntCodec.Append(b, st.NPages)
	b, _ = servers.BoolCodec.Append(b, st.Drop)
	b, _ = servers.IntCodec.Append(b, len(st.IDs))
	for p, id := range st.IDs {
		b, _ = servers.IntCodec.Append(b, p)
		b, _ = servers.Uint64Codec.Append(b, id)
	}
	b, _ = servers.IntCodec.Append(b, len(st.Pending))
	for p, img := range st.Pending {
		b, _ = servers.IntCodec.Append(b, p)
		b, _ = servers.BytesCodec.Append(b, img)
	}
	return b, nil
}

// DecodeState reads what AppendState wrote; the maps are never nil.
func (st *segState) DecodeState(b []byte) error {
	var err error
	if st.PageSize, b, err = servers.IntCodec.Read(b); err != nil {
		return err
	}
	if st.NPages, b, err = servers.IntCodec.Read(b); err != nil {
		return err
	}
	if st.Drop, b, err = servers.BoolCodec.Read(b); err != nil {
		return err
	}
	if st.IDs, b, err = readIDs(b); err != nil {
		return err
	}
	if st.Pending, b, err = readPending(b); err != nil {
		return err
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: %d bytes after the segment's state", servers.ErrCorruptState, len(b))
	}
	return nil
}

// readCount reads a list's length, at most MaxPages.
func readCount(b []byte) (int, []byte, error) {
	n, b, err := servers.IntCodec.Read(b)
	if err == nil && (n < 0 || n > MaxPages) {
		err = fmt.Errorf("%w: %d pages in a segment's state", servers.ErrCorruptState, n)
	}
	return n, b, err
}

func readIDs(b []byte) (map[int]uint64, []byte, error) {
	n, b, err := readCount(b)
	if err != nil {
		return nil, nil, err
	}
	ids := make(map[int]uint64, n)
	for range n {
		var p int
		var id uint64
		if p, b, err = servers.IntCodec.Read(b); err != nil {
			return nil, nil, err
		}
		if id, b, err = servers.Uint64Codec.Read(b); err != nil {
			return nil, nil, err
		}
		ids[p] = id
	}
	return ids, b, nil
}

func readPending(b []byte) (map[int][]byte, []byte, error) {
	n, b, err := readCount(b)
	if err != nil {
		return nil, nil, err
	}
	pending := make(map[int][]byte, n)
	for range n {
		var p int
		var img []byte
		if p, b, err = servers.IntCodec.Read(b); err != nil {
			return nil, nil, err
		}
		if img, b, err = servers.BytesCodec.Read(b); err != nil {
			return nil, nil, err
		}
		pending[p] = img
	}
	return pending, b, nil
}
