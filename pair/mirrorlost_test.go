package pair

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/stm"
)

// A commit whose context ends while it talks to the backup makes stm close
// the bank's mirror while the pair is still linked; the member attaches the
// partner's backup again on the same service, so the bank commits again
// (no relink needed), and a crash afterwards still loses nothing reported.
func TestStableReattachesAfterMirrorClosedWhileLinked(t *testing.T) {
	net := newMemNet()
	a, b := startProtectedPair(t, net, StableConfig{Name: "alpha"})
	ma, mb := model{}, model{}
	commit(t, a.st.Own(), ma, batch{"a", 1, 5})
	commit(t, b.st.Own(), mb, batch{"b", 1, 5})

	for round := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := a.st.Own().Update(ctx, func(tx *stm.Tx) error { return tx.Put(1, []byte("cancelled")) })
		require.ErrorIs(t, err, stm.ErrNoBackup, "round %d", round)
		waitFor(t, a, "re-attached", func(st StableStatus) bool {
			return st.Banks[0].Attaches == round+2 && protects([]string{"alpha"}, []string{"beta"})(st)
		})
		waitFor(t, b, "serving the new mirror", protects([]string{"beta"}, []string{"alpha"}))
		commit(t, a.st.Own(), ma, batch{"a-again", 10 + round*10, 5})
	}
	commit(t, b.st.Own(), mb, batch{"b-again", 10, 5}) // the other direction was not disturbed

	net.setRefuse(true)
	a.crash()
	waitFor(t, b, "alpha's bank taken over", func(st StableStatus) bool { return st.Takeovers == 1 })
	require.Equal(t, ma, dump(b.st.Bank("alpha")))
	require.Equal(t, mb, dump(b.st.Own()))
	b.crash()
}

// scriptNet is memNet whose links run a fault script.
type scriptNet struct {
	*memNet
	script func(from string, f link.Frame) link.Fate
}

func (n *scriptNet) dial(ctx context.Context, addr string) (link.Link, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.refuse {
		return nil, errors.New("connection refused")
	}
	a, b := link.NewMemPair("alpha", "beta", link.MemConfig{Script: n.script})
	n.links = append(n.links, a)
	n.pending <- b
	return a, nil
}

// The primary dies while its re-attach is copying into the partner's fresh
// backup: the survivor takes over the previous complete copy, which holds
// every reported commit (none could commit since the mirror closed).
func TestStableTakeoverFallsBackToLastCompleteCopy(t *testing.T) {
	var dropping atomic.Bool
	var loads atomic.Int32
	script := func(from string, f link.Frame) link.Fate {
		if !dropping.Load() || from != "alpha" || f.Service != link.ServiceSTM || f.Kind != 3 { // 3: stm's load
			return link.Deliver
		}
		if loads.Add(1) <= 2 { // the refused first attempt, then the fresh backup's first chunk
			return link.Deliver
		}
		return link.Drop // the rest of the copy never arrives
	}
	net := &scriptNet{memNet: newMemNet(), script: script}
	a, b := startProtectedPair(t, net, StableConfig{Name: "alpha", HelloTimeout: time.Minute})
	ma := model{}
	commit(t, a.st.Own(), ma, batch{"a", 1, 8})

	dropping.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := a.st.Own().Update(ctx, func(tx *stm.Tx) error { return tx.Put(1, []byte("cancelled")) })
	require.ErrorIs(t, err, stm.ErrNoBackup)
	waitFor(t, b, "a fresh backup receiving the copy", func(st StableStatus) bool {
		return len(st.Banks) == 2 && st.Banks[1].Name == "alpha" && !st.Banks[1].Ready && loads.Load() >= 2
	})

	net.setRefuse(true)
	a.crash()
	st := waitFor(t, b, "alpha's bank taken over", func(st StableStatus) bool { return st.Takeovers == 1 })
	require.Equal(t, "alpha", st.LastTakeover.Bank)
	require.Equal(t, ma, dump(b.st.Bank("alpha")))
	b.crash()
}
