package main

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// Reference: the group's leases (cluster/doc.go), with real processes —
// a pair with its witness; while an external client loop sends durable kv
// updates to alpha's server and the sieve runs on alpha, alpha is cut from
// beta and the witness (ftmctl partition --isolate: the pair link and the
// consensus traffic) long enough for beta to take its bank over. From the
// nodes' logs and checkpoint log: alpha's lease expired before beta's
// takeover, alpha began stopping its task before it and checkpointed
// nothing after it; every acknowledged update reads 1 (none lost, none
// applied twice); the task ended once, with the right prime; after the
// heal the pair is protected again.
func TestIsolatedPrimaryStopsBeforeTheMajorityTakesOver(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin := buildFtmctl(t)
	r := &soakRun{n: 2400000, want: "prime 2400000 is 39410867", rng: rand.New(rand.NewPCG(9, 10))}
	note, err := soakOnce(bin, scenario{name: "group-isolate", run: (*soakRun).groupIsolate, group: true}, r, nil)
	require.NoError(t, err)
	t.Log(note)
	require.True(t, r.tookOver, "the isolation outlasted the failure detector and the lease wait: beta took alpha's bank over")
	require.Positive(t, r.acked, "the client loop's updates were acknowledged")
}
