package failpoint

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseScopesAndCounts(t *testing.T) {
	s, err := Parse("alpha:stm.phase1.shipped=kill@3; beta:pair.takeover.taken=sleep(20ms) ;task.checkpoint.save=sleep(1ms)", "beta", nil)
	require.NoError(t, err)
	require.Len(t, s.actions, 2, "alpha's entry is not beta's")
	require.Equal(t, action{point: TakeoverTaken, sleep: 20 * time.Millisecond, nth: 1}, s.actions[TakeoverTaken])
	a, err := Parse("alpha:stm.phase1.shipped=kill@3", "alpha", nil)
	require.NoError(t, err)
	require.Equal(t, action{point: "stm.phase1.shipped", kill: true, nth: 3}, a.actions["stm.phase1.shipped"])

	none, err := Parse("alpha:x=kill", "beta", nil)
	require.NoError(t, err)
	require.Nil(t, none)
	none.Hit("x") // the nil set does nothing
	require.Nil(t, none.Hook())
}

func TestParseRejectsGarbage(t *testing.T) {
	for _, spec := range []string{"x", "=kill", "x=explode", "x=kill@0", "x=kill@two", "x=sleep(soon)", "x=sleep(-1s)"} {
		_, err := Parse(spec, "alpha", nil)
		require.ErrorIs(t, err, ErrSyntax, spec)
	}
}

func TestSleepFiresAtTheNthHitOnly(t *testing.T) {
	s, err := Parse("p=sleep(30ms)@2", "n", nil)
	require.NoError(t, err)
	s.Hit("p")
	s.Hit("other")
	require.Equal(t, 1, s.hits["p"])
	s.Hit("p") // stalls
	s.Hit("p")
	require.Equal(t, 3, s.hits["p"])
	require.NoError(t, s.Hook()("p"))
}
