package main

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/examples/mp3d/sim"
	"github.com/ftm-in-go/ftm/task"
)

// mp3dJob is the job of the mp3d tests: the paper's smaller run, short.
var mp3dJob = sim.Job{Molecules: 10000, Steps: 300, Seed: 3}

// mp3dLongJob is mp3dJob ten times longer (about a second of CPU), for a
// kill at a random moment that must land before the run ends, however
// slowly a loaded machine answers the test's polls.
var mp3dLongJob = sim.Job{Molecules: 10000, Steps: 3000, Seed: 3}

// mp3dReference is job's result line without fault tolerance, computed
// in this process.
func mp3dReference(t *testing.T, job sim.Job) string {
	t.Helper()
	var r sim.Result
	_, err := task.Run(context.Background(), task.Config{Name: "plain"}, func(ctx context.Context, tk *task.Task) error {
		var err error
		r, err = sim.Compute(ctx, tk, job)
		return err
	})
	require.NoError(t, err)
	return sim.Report(job, r)
}

// runMp3d starts job on n1 once the pair is linked and backed up.
func runMp3d(t *testing.T, bin, dir string, job sim.Job) {
	t.Helper()
	args := []string{"run", "mp3d", fmt.Sprint(job.Molecules), fmt.Sprint(job.Steps), fmt.Sprint(job.Seed), "--dir", dir}
	eventually(t, "both nodes are linked and backed up", func() bool {
		out, err := ftmctl(t, bin, args...)
		return err == nil && strings.Contains(out, "started on node n1")
	})
}

// Reference: §6.3 with §2.2, with real processes — mp3d runs as a stable
// task on node n1 (`ftmctl run mp3d`); n1 is killed with SIGKILL
// (`ftmctl crash`) at a random moment after its first checkpoint; n2
// takes n1's bank over, restarts the task from its last checkpoint, and
// the final state's checksum is bit-identical to the run without fault
// tolerance.
func TestMp3dSurvivesSIGKILLBitIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	want := mp3dReference(t, mp3dLongJob)
	bin, dir, _ := startPair(t)
	runMp3d(t, bin, dir, mp3dLongJob)
	eventually(t, "the task checkpointed", func() bool {
		recs := psRows(t, bin, dir)
		return len(recs) == 1 && recs[0].Stats.Checkpoints >= 1
	})
	pause := time.Duration(rand.Int63n(int64(200 * time.Millisecond)))
	t.Logf("killing n1 %v after its first checkpoint", pause)
	time.Sleep(pause)
	out, err := ftmctl(t, bin, "crash", "n1", "--dir", dir)
	require.NoError(t, err, out)
	rec := waitEnded(t, bin, dir)
	require.Equal(t, task.StateDone, rec.State, "%+v", rec)
	require.Equal(t, want, rec.Result, "bit-identical to the run without fault tolerance")
	require.Equal(t, 1, rec.Restarts)
	require.True(t, rec.Stats.Restored, "restarted from a checkpoint, not from scratch")
	require.Equal(t, "n1", rec.Bank)
}

// Reference: §6.3 with §4.2, with real processes — n1 dies by SIGKILL in
// the middle of one of mp3d's checkpoints (the pager's saves at the
// units, the atomic action not started; or between two units deciding
// it), and the run n2 resumes from one consistent set of segments ends
// bit-identical to the run without fault tolerance.
func TestMp3dKilledMidCheckpointBitIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	want := mp3dReference(t, mp3dJob)
	for _, point := range []string{"pager.saves-sent=kill@3", "servers.before-decide=kill@3"} {
		t.Run(point, func(t *testing.T) {
			t.Setenv("FTM_FAILPOINTS", "n1:"+point)
			bin, dir, _ := startPair(t)
			runMp3d(t, bin, dir, mp3dJob)
			rec := waitEnded(t, bin, dir)
			require.Equal(t, task.StateDone, rec.State, "%+v", rec)
			require.Equal(t, want, rec.Result, "bit-identical to the run without fault tolerance")
			require.Equal(t, 1, rec.Restarts, "n1 died at the failpoint; n2 restarted the task")
			require.True(t, rec.Stats.Restored, "restarted from a checkpoint, not from scratch")
		})
	}
}
