package stm

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Concurrent read-modify-write transactions on one object all land with
// UpdateRetry.
func TestUpdateRetryLandsEveryConflictingUpdate(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	ctx := context.Background()
	const id, n = ID(7), 16
	incr := func(tx *Tx) error {
		v := make([]byte, 8)
		if b, err := tx.Bytes(id); err == nil {
			copy(v, b)
		}
		binary.LittleEndian.PutUint64(v, binary.LittleEndian.Uint64(v)+1)
		return tx.Put(id, v)
	}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, p.b.UpdateRetry(ctx, incr))
		}()
	}
	wg.Wait()
	require.Equal(t, uint64(n), binary.LittleEndian.Uint64(p.b.Dump()[id]))

	calls := 0
	boom := errors.New("boom")
	err := p.b.UpdateRetry(ctx, func(*Tx) error { calls++; return boom })
	require.ErrorIs(t, err, boom)
	require.Equal(t, 1, calls, "only conflicts are retried")
}
