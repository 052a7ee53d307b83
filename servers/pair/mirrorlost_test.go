package pair

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/stm"
)

// A commit whose context ends while it talks to the backup makes stm close
// the bank's mirror while the pair is still linked; the member attaches the
// partner's backup again on the same service, so the bank commits again
// (no relink needed), and a crash afterwards still loses nothing reported.
func TestStableReattachesAfterMirrorClosedWhileLinked(t *testing.T) {
	net := newMemNet()
	a := startMember(t, net, "alpha", nil)
	b := startMember(t, net, "beta", nil)
	waitFor(t, a, "protected", protects([]string{"alpha"}, []string{"beta"}))
	waitFor(t, b, "protected", protects([]string{"beta"}, []string{"alpha"}))
	ma, mb := model{}, model{}
	commit(t, a.st.Own(), ma, "a", 1, 5)
	commit(t, b.st.Own(), mb, "b", 1, 5)

	for round := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := a.st.Own().Update(ctx, func(tx *stm.Tx) error { return tx.Put(1, []byte("cancelled")) })
		require.ErrorIs(t, err, stm.ErrNoBackup, "round %d", round)
		waitFor(t, a, "re-attached", func(st StableStatus) bool {
			return st.Banks[0].Attaches == round+2 && protects([]string{"alpha"}, []string{"beta"})(st)
		})
		waitFor(t, b, "serving the new mirror", protects([]string{"beta"}, []string{"alpha"}))
		commit(t, a.st.Own(), ma, "a-again", 10+round*10, 5)
	}
	commit(t, b.st.Own(), mb, "b-again", 10, 5) // the other direction was not disturbed

	net.setRefuse(true)
	a.crash()
	waitFor(t, b, "alpha's bank taken over", func(st StableStatus) bool { return st.Takeovers == 1 })
	require.Equal(t, ma, dump(b.st.Bank("alpha")))
	require.Equal(t, mb, dump(b.st.Own()))
	b.crash()
}
