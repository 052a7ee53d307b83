package rvm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/internal/proctest"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// Child processes of this test binary (proctest roles):
//   - "primary": a node whose task fills a segment, checkpointing it into
//     STM mirrored over an authenticated TCP link to the address it is
//     given, printing "checkpoint N SHA" after each checkpoint, until it is
//     killed;
//   - "backup": a node that serves a backup bank and a raw TCP sink for the
//     benchmarks, printing "addr A raw R floor F", until its parent goes;
//   - "raw-sink": a clean process serving only the raw TCP sink of the
//     benchmarks' baselines, printing "raw R", until its parent goes.
var roles = proctest.Roles{
	"primary":  primaryProcess,
	"backup":   proctest.BoundToParent(backupProcess),
	"raw-sink": proctest.BoundToParent(rawSinkProcess),
}

var testSecret = []byte("rvm-two-process-shared-secret!!!")

func TestHelperProcess(t *testing.T) { os.Exit(proctest.Dispatch(t, os.Stderr, roles)) }

// testLink is the link configuration of a node of these tests.
func testLink(name string) link.Config { return link.Config{Name: name, Secret: testSecret} }

func primaryProcess(args []string) error {
	ctx := context.Background()
	bank, err := stmtest.DialBank(ctx, args[0], testLink("primary"))
	if err != nil {
		return err
	}
	seg, err := NewSegment("data", 64*DefaultPageSize, Config{})
	if err != nil {
		return err
	}
	store := NewSTMStore(bank)
	words := seg.Uint32s()
	for n, i := 1, 0; ; n++ {
		for k := 0; k < 3000; k++ { // fill a stretch of the segment
			words[i%len(words)] = uint32(n*7919 + k)
			i += 97
		}
		if _, err := seg.Checkpoint(ctx, store); err != nil {
			return err
		}
		sum := sha256.Sum256(seg.Bytes())
		fmt.Printf("checkpoint %d %s\n", n, hex.EncodeToString(sum[:]))
	}
}

// Reference: §6.1 — a task fills a segment and is checkpointed,
// keeps writing, is killed with its node process (SIGKILL), and its segment
// is restored on the backup with exactly the bytes of a checkpoint it
// reported (or of the one in flight when it died, which had reached the
// backup): never a mix.
func TestSegmentRestoredOnBackupAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ln, err := link.Listen("127.0.0.1:0", testLink("backup"))
	require.NoError(t, err)
	defer ln.Close()
	k := stm.NewBackup(stm.BackupConfig{})
	served := make(chan error, 1)
	go func() { served <- stmtest.ServeOne(ctx, ln, k) }()

	primary := proctest.Start(t, proctest.Spec{Role: "primary", Args: []string{ln.Addr()}, Timeout: 60 * time.Second})
	sums := map[int]string{}
	last := 0
	for line := range primary.Lines() {
		var sum string
		_, err := fmt.Sscanf(line, "checkpoint %d %s", &last, &sum)
		require.NoError(t, err, "primary said %q", line)
		sums[last] = sum
		if last >= 25 {
			break
		}
	}
	require.NoError(t, primary.Kill()) // SIGKILL, while it keeps writing
	_ = primary.Wait()
	<-served

	bank := stmtest.Takeover(t, k)
	seg, err := NewSegment("data", 64*DefaultPageSize, Config{})
	require.NoError(t, err)
	defer seg.Close()
	require.NoError(t, seg.Restore(ctx, NewSTMStore(bank)))
	got := sha256.Sum256(seg.Bytes())
	gotHex := hex.EncodeToString(got[:])
	// The task goes on checkpointing between the last line read and the
	// kill, so the restored image may be any whole checkpoint from the last
	// reported one on: recompute the deterministic task's images.
	match := firstCheckpointWithImage(last, last+5000, gotHex)
	require.NotZero(t, match, "restored segment is no checkpoint the task took since %d", last)
	require.Equal(t, sums[last], checkpointImageHex(last), "the recomputation matches what the task reported")
	require.GreaterOrEqual(t, match, last, "a reported checkpoint was lost")
	t.Logf("task reported %d checkpoints; restored checkpoint %d", last, match)
}

// checkpointImages calls f with the segment hash of each checkpoint n of
// primaryProcess's deterministic task, from 1, until f returns false.
func checkpointImages(f func(n int, hexSum string) bool) {
	words := make([]uint32, 64*DefaultPageSize/4)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*4) // native order, as Segment.Uint32s
	for c, i := 1, 0; ; c++ {
		for k := 0; k < 3000; k++ {
			words[i%len(words)] = uint32(c*7919 + k)
			i += 97
		}
		sum := sha256.Sum256(b)
		if !f(c, hex.EncodeToString(sum[:])) {
			return
		}
	}
}

func checkpointImageHex(n int) (out string) {
	checkpointImages(func(c int, h string) bool { out = h; return c < n })
	return out
}

// firstCheckpointWithImage is the first checkpoint in [from, to] whose
// image hashes to want, or 0.
func firstCheckpointWithImage(from, to int, want string) (found int) {
	checkpointImages(func(c int, h string) bool {
		if c >= from && h == want {
			found = c
		}
		return found == 0 && c < to
	})
	return found
}
