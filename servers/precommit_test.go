package servers

import (
	"sync/atomic"
	"testing"

	"github.com/ftm-in-go/ftm/stm"
	"github.com/stretchr/testify/require"
)

// TestOneHostsPrecommitsShareOneTransaction: the S of the units of one
// driver that precommit into the same checkpoint's group go into one STM
// transaction (one backup round trip), not one each. Seen from the
// failpoint after each unit's precommit: with one transaction each, the
// second unit's hit finds two transactions waiting for the decision.
// Reference: §6.5 (batching), applied to the precommits of one host.
func TestOneHostsPrecommitsShareOneTransaction(t *testing.T) {
	w := newWorld(t)
	var hits, most atomic.Int64
	w.fail = func(point, unit string) error {
		if point == FPAfterPrecommit {
			hits.Add(1)
			if n := inPhase2(w.bank); n > most.Load() {
				most.Store(n)
			}
		}
		return nil
	}
	w.serve("s", "kv1")
	w.serve("s", "kv2")
	c := w.client("x", "app")
	for round := range 2 {
		for _, srv := range []string{"kv1", "kv2"} {
			_, err := mAdd(srv).Call(w.ctx, c, addReq{Key: "k", By: 1})
			require.NoError(t, err)
		}
		require.NoError(t, c.Checkpoint(w.ctx))
		require.Equal(t, round+1, w.committed("kv1").N["k"])
		require.Equal(t, round+1, w.committed("kv2").N["k"])
	}
	require.Equal(t, int64(4), hits.Load(), "precommits of kv1 and kv2 in two checkpoints")
	require.Equal(t, int64(1), most.Load(), "transactions in phase 2 after a precommit of host s")
}

// inPhase2 counts the transactions of bank waiting for a group decision.
func inPhase2(bank *stm.Bank) int64 {
	n := int64(0)
	for _, tx := range bank.Transactions() {
		if tx.Phase == stm.Phase2 && tx.Group != 0 {
			n++
		}
	}
	return n
}
