package pair

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/stm"
)

// hits records the failpoints a hook was called at, as "point subject",
// and the ones where the hook it wraps crashed.
type hits struct {
	mu      sync.Mutex
	seen    []string
	crashed []string
}

// hook returns a hook that records every call and then runs h.
func (r *hits) hook(h failpoint.Hook) failpoint.Hook {
	return func(point, subject string) error {
		err := h.At(point, subject)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.seen = append(r.seen, point+" "+subject)
		if err != nil {
			r.crashed = append(r.crashed, point+" "+subject)
		}
		return err
	}
}

// of returns the calls recorded at points starting with prefix.
func (r *hits) of(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.seen {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

func (r *hits) crashes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.crashed...)
}

// StableConfig.Failpoint is called at the attach's and the takeover's steps,
// in order, with the bank's name, and handed on to the stm banks the member
// holds (stm's points, subject "").
func TestStableFailpointsAreReachedInOrder(t *testing.T) {
	net := newMemNet()
	var rec hits
	a := startMemberCfg(t, net, StableConfig{Name: "alpha", Failpoint: rec.hook(nil)})
	b := startMember(t, net, "beta", nil)
	waitFor(t, a, "own bank protected", protects([]string{"alpha"}, []string{"beta"}))
	require.Equal(t, []string{FPAttachBegin + " alpha", FPAttachCopied + " alpha"}, rec.of("pair."))

	commit(t, a.st.Own(), model{}, batch{"a", 1, 1})
	require.Contains(t, rec.of("stm."), stm.FPPhase1Shipped+" ", "the own bank calls the same hook")

	net.setRefuse(true)
	b.crash()
	waitFor(t, a, "beta's bank taken over", func(st StableStatus) bool { return st.Takeovers == 1 })
	want := []string{FPAttachBegin + " alpha", FPAttachCopied + " alpha", FPTakeoverBegin + " beta", FPTakeoverTaken + " beta", FPTakeoverResolved + " beta"}
	require.Eventually(t, func() bool { return len(rec.of("pair.")) == len(want) }, 5*time.Second, time.Millisecond)
	require.Equal(t, want, rec.of("pair."))
	require.Empty(t, rec.crashes())
	a.crash()
}

// An error at a takeover point abandons the takeover there, as if the
// survivor had died at that step: the partner's bank is not held (a bank
// already promoted is closed) and OnTakeover is not called; the member's
// own bank is untouched.
func TestStableTakeoverAbandonedAtAFailpoint(t *testing.T) {
	for _, point := range []string{FPTakeoverBegin, FPTakeoverTaken, FPTakeoverResolved} {
		t.Run(point, func(t *testing.T) {
			net := newMemNet()
			var rec hits
			var mu sync.Mutex
			var restarted []string
			a := startMemberCfg(t, net, StableConfig{Name: "alpha", Failpoint: rec.hook(failpoint.Once(point, "beta")),
				OnTakeover: func(_ context.Context, bank string, _ *stm.Bank) {
					mu.Lock()
					defer mu.Unlock()
					restarted = append(restarted, bank)
				}})
			b := startMember(t, net, "beta", nil)
			waitFor(t, a, "own bank protected", protects([]string{"alpha"}, []string{"beta"}))
			own := a.st.Own()

			net.setRefuse(true)
			b.crash()
			require.Eventually(t, func() bool { return len(rec.crashes()) == 1 }, 15*time.Second, time.Millisecond)
			require.Equal(t, []string{point + " beta"}, rec.crashes())
			st := waitFor(t, a, "beta's bank not held", func(st StableStatus) bool { return a.st.Bank("beta") == nil })
			for _, bs := range st.Banks {
				require.NotEqual(t, "beta", bs.Name, "abandoned takeover: beta's bank is not held (%+v)", st)
			}
			require.Same(t, own, a.st.Own(), "alpha's own bank is untouched")
			mu.Lock()
			require.Empty(t, restarted, "OnTakeover is not called")
			mu.Unlock()
			a.crash()
		})
	}
}

// An error at FPAttachBegin fails that attach attempt; the next attempt
// protects the bank.
func TestStableAttachRetriedAfterAFailpoint(t *testing.T) {
	net := newMemNet()
	var rec hits
	a := startMemberCfg(t, net, StableConfig{Name: "alpha", Failpoint: rec.hook(failpoint.Once(FPAttachBegin, "alpha"))})
	b := startMember(t, net, "beta", nil)
	waitFor(t, a, "own bank protected", protects([]string{"alpha"}, []string{"beta"}))
	require.Equal(t, []string{FPAttachBegin + " alpha"}, rec.crashes())
	require.Equal(t, []string{FPAttachBegin + " alpha", FPAttachBegin + " alpha"}, rec.of(FPAttachBegin),
		"attached at the second attempt")
	commit(t, a.st.Own(), model{}, batch{"a", 1, 3})
	a.crash()
	b.crash()
}
