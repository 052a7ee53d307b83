package failpoint

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestParseScopesAndCounts(t *testing.T) {
	s, err := Parse("alpha:stm.phase1.shipped=kill@3; beta:pair.takeover.taken=sleep(20ms) ;task.checkpoint.save=sleep(1ms)", "beta", nil)
	require.NoError(t, err)
	require.Len(t, s.actions, 2, "alpha's entry is not beta's")
	require.Equal(t, action{point: "pair.takeover.taken", sleep: 20 * time.Millisecond, nth: 1}, s.actions["pair.takeover.taken"])
	a, err := Parse("alpha:stm.phase1.shipped=kill@3", "alpha", nil)
	require.NoError(t, err)
	require.Equal(t, action{point: "stm.phase1.shipped", kill: true, nth: 3}, a.actions["stm.phase1.shipped"])

	none, err := Parse("alpha:x=kill", "beta", nil)
	require.NoError(t, err)
	require.Nil(t, none)
	require.Nil(t, none.Hook(), "the nil set is the nil (off) hook")
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
	h := s.Hook()
	require.NoError(t, h.At("p", ""))
	require.NoError(t, h.At("other", ""))
	require.Equal(t, 1, s.hits["p"])
	start := time.Now()
	require.NoError(t, h.At("p", "a subject"), "the hook stalls, it never crashes the caller")
	require.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond, "the second hit stalls")
	start = time.Now()
	require.NoError(t, h.At("p", ""))
	require.Less(t, time.Since(start), 30*time.Millisecond, "the third does not")
	require.Equal(t, 3, s.hits["p"])
}

func TestArmIgnoresBadOrForeignSpecs(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	log := zap.New(core)
	require.Nil(t, Arm("", "alpha", log))
	require.Nil(t, Arm("beta:p=kill", "alpha", log), "no entry for alpha")
	require.Nil(t, Arm("p=kill;q=explode", "alpha", log), "a bad entry disarms the whole spec")
	require.Equal(t, 1, logs.FilterMessage("ignoring "+EnvVar).Len())
	require.Zero(t, logs.FilterMessage("failpoints armed from "+EnvVar).Len())

	h := Arm("alpha:p=sleep(1ms)", "alpha", log)
	require.NotNil(t, h)
	require.NoError(t, h.At("p", ""))
	require.Equal(t, 1, logs.FilterMessage("failpoints armed from "+EnvVar).Len())
	require.Equal(t, 1, logs.FilterMessage("failpoint: stalling").Len())
}

// Only binaries arm failpoints that kill or stall the process: no library
// package imports this one (its tests may), only package main and the
// binaries' own helpers under examples/internal (importable by examples
// only).
func TestOnlyPackageMainImportsThisPackage(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	const self = "github.com/ftm-in-go/ftm/internal/failpoint"
	out, err := exec.Command(goBin, "list", "-f", `{{.Name}} {{.ImportPath}} {{join .Imports " "}}`, "github.com/ftm-in-go/ftm/...").Output()
	require.NoError(t, err)
	importers := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, imp := range f[2:] {
			if imp == self {
				importers++
				if !strings.Contains(f[1], "/examples/internal/") {
					require.Equal(t, "main", f[0], "%s imports %s", f[1], self)
				}
			}
		}
	}
	require.Positive(t, importers, "the binaries arm failpoints through this package")
}
