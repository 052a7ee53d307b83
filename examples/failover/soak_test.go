package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/internal/failpoint"
	"github.com/ftm-in-go/ftm/internal/proctest"
	"github.com/ftm-in-go/ftm/stm"
)

// buildFtmctl compiles the real binaries once per test run: ftmctl, and
// next to it the default node binary (ftmnode) its pair up starts.
func buildFtmctl(t *testing.T) string {
	t.Helper()
	return built.Path(t, "ftmctl")
}

// built holds the binaries every test of the package shares.
var built = proctest.Binaries{Builds: [][2]string{{"ftmctl", "../../ftmctl"}, {"ftmnode", "../ftmnode"}}}

// TestMain removes the shared binaries once every test has run.
func TestMain(m *testing.M) {
	code := m.Run()
	built.Remove()
	os.Exit(code)
}

// Reference: §6.2, and the short version of `make soak`, with real
// processes and SIGKILL — alpha dies in the middle of a checkpoint (after
// the backup applied it, before alpha heard so), beta takes over and ends
// the computation with the right prime; then, on a fresh pair, alpha is
// killed, beta takes over, alpha is restarted and re-protects both banks,
// beta is killed, and alpha finishes: the 1,600,000th prime is 25,582,153.
// (The expected primes are known values, TestPlainPrimesKnownValues.)
func TestKillDuringCheckpointAndSecondFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin := buildFtmctl(t)
	r := &soakRun{n: 800000, want: "prime 800000 is 12195257", rng: rand.New(rand.NewPCG(1, 2))}
	env := []string{fmt.Sprintf("%s=alpha:%s=kill@3", failpoint.EnvVar, stm.FPPhase1Shipped)}
	note, err := soakOnce(bin, scenario{name: "checkpoint", run: (*soakRun).killInCheckpoint}, r, env)
	require.NoError(t, err)
	t.Log(note)

	r = &soakRun{n: 1600000, want: "prime 1600000 is 25582153", rng: rand.New(rand.NewPCG(3, 4))}
	note, err = soakOnce(bin, scenario{name: "second-failure", run: (*soakRun).secondFailure}, r, nil)
	require.NoError(t, err)
	t.Log(note)
}

// Reference: fencing (docs/architecture.md), with real processes — the pair link
// is cut (ftmctl partition) while the sieve runs on alpha, long enough for
// both nodes to take each other's bank over, so the task runs on both
// sides; after the relink the higher epoch wins, alpha's stale copy is
// stopped and forgotten, and the task ends once, on beta, with the right
// prime.
func TestPartitionEndsWithOneTaskAndTheRightPrime(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin := buildFtmctl(t)
	r := &soakRun{n: 2400000, want: "prime 2400000 is 39410867", rng: rand.New(rand.NewPCG(5, 6))}
	note, err := soakOnce(bin, scenario{name: "partition", run: (*soakRun).partition}, r, nil)
	require.NoError(t, err)
	t.Log(note)
}
