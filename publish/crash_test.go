package publish

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/stm"
)

const inputs = 30

// reference is what the sink receives from the adder in a run without a
// crash.
func reference(t *testing.T) []string {
	w := newWorld(t, "ref", nil, Rule{MinBytes: 200})
	p, err := w.mgr.Start(ctxT(t), adderSpec("ref", nil))
	require.NoError(t, err)
	w.feed("adder", 1, inputs)
	out := w.collect(2 * inputs)
	require.Zero(t, w.mgr.Crashes())
	require.Zero(t, p.Stats().Suppressed)
	return out
}

// A published task crashed at any step — before or after its message is
// recorded, between two of its sends, after a send, during its replay,
// before or after its checkpoint commits — recovers, and the messages the
// other tasks receive from it are exactly those of the run without the
// crash: none missing, none duplicated, in order. Reference:
// publishing.txt §2.3 ("messages that were sent by the process before the
// failure occurred are discarded") and §3.4.
func TestCrashAtEveryStepIsInvisible(t *testing.T) {
	want := reference(t)
	cases := []struct {
		name string
		fp   failpoint.Hook
	}{
		{"before recording", failpoint.Nth("publish.record.before", "adder", 7)},
		{"after recording", failpoint.Nth("publish.record.after", "adder", 7)},
		{"between two sends", failpoint.Nth("adder.between-sends", "", 9)},
		{"after a send", failpoint.Nth("publish.send.after", "adder", 15)},
		{"during replay", failpoint.Chain(
			failpoint.Nth("publish.record.after", "adder", 11),
			failpoint.Nth("publish.replay", "adder", 2))},
		{"before its checkpoint", failpoint.Nth("publish.checkpoint.before", "adder", 2)},
		{"after its checkpoint", failpoint.Nth("publish.checkpoint.after", "adder", 2)},
		{"twice in a row", failpoint.Chain(
			failpoint.Nth("adder.between-sends", "", 5),
			failpoint.Nth("adder.between-sends", "", 6))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "n", tc.fp, Rule{MinBytes: 200})
			p, err := w.mgr.Start(ctxT(t), adderSpec("n", tc.fp))
			require.NoError(t, err)
			w.feed("adder", 1, inputs)
			got := w.collect(2 * inputs)
			require.Equal(t, want, got)
			require.GreaterOrEqual(t, w.mgr.Crashes(), 1, "the failpoint fired")
			require.GreaterOrEqual(t, p.Stats().Incarnations, 2)
			t.Logf("stats %+v", p.Stats())
		})
	}
}

// poisoned panics on every message carrying 7: a deterministic failure.
type poisoned struct{ adder }

func (p *poisoned) Handle(env *Env, m *kernel.Message) error {
	if binary.BigEndian.Uint64(m.Body) == 7 {
		panic("seven")
	}
	return p.adder.Handle(env, m)
}

// A task that crashes on the same message every time is not restarted
// for ever: after Config.CrashLimit crashes in a row it ends with
// ErrCrashLoop, having sent exactly what it sent before that message.
// Reference: publishing.txt §2.1 ("to be recoverable, a failure must be
// detected and must not be deterministic").
func TestDeterministicCrashEndsTheTask(t *testing.T) {
	want := reference(t)
	w := newWorld(t, "n", nil, Rule{MinBytes: 200})
	spec := adderSpec("n", nil)
	spec.New = func() Machine { return &poisoned{} }
	p, err := w.mgr.Start(ctxT(t), spec)
	require.NoError(t, err)
	w.feed("adder", 1, 10)
	require.Equal(t, want[:12], w.collect(12))
	<-p.Done()
	require.ErrorIs(t, p.Err(), ErrCrashLoop)
	require.Equal(t, 3, w.mgr.Crashes())
}

// While the recorder cannot log (its bank has lost its backup and
// refuses commits), the messages sent to a published task are held, not
// delivered: the task sends nothing. Once the bank has a backup again,
// they are logged and handled in order, none lost. Reference:
// publishing.txt §3.1 ("a message is received by the destination only if
// it is recorded").
func TestUnrecordedMessagesWaitForTheRecorder(t *testing.T) {
	want := reference(t)
	w := newWorld(t, "n", nil, Rule{MinBytes: 200})
	bank := stm.NewBank(stm.Config{})
	mirror := stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{}))
	require.NoError(t, bank.Attach(ctxT(t), mirror))
	mgr := NewManager(Config{Node: w.node, Bank: bank, Rule: Rule{MinBytes: 200}})
	t.Cleanup(mgr.Stop)
	p, err := mgr.Start(ctxT(t), adderSpec("n", nil))
	require.NoError(t, err)
	w.feed("adder", 1, 5)
	got := w.collect(10)

	mirror.Cut() // the recorder's commits now fail
	w.feed("adder", 6, 10)
	_, err = w.sink.ReceiveTimeout(ctxT(t), w.sinkRcv, 100*time.Millisecond)
	require.ErrorIs(t, err, kernel.ErrTimedOut, "a message was handled without being recorded")
	require.Positive(t, p.Stats().Refused, "the refused recording was reported")
	require.Equal(t, 1, p.Stats().Incarnations, "a refused recording restarts nothing: the message waits in the kernel")

	require.NoError(t, bank.Attach(ctxT(t), stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{}))))
	got = append(got, w.collect(10)...)
	require.Equal(t, want[:20], got)
	require.NoError(t, p.Err())
}

// A peer that moved — its port died (its node's death, or its
// recovery) and it is registered again under its key — gets the
// published task's messages at its new port: the task holds the message
// that found the old port dead, looks its peers up again until the peer
// is back, and sends it there (publishing.txt §3.4, forwarding). Nothing
// is lost or sent twice and the task itself never restarts.
func TestSendsToAMovedPeerAreForwarded(t *testing.T) {
	want := reference(t)
	w := newWorld(t, "n", nil, Rule{MinBytes: 200})
	p, err := w.mgr.Start(ctxT(t), adderSpec("n", nil))
	require.NoError(t, err)
	w.feed("adder", 1, 5)
	got := w.collect(10)

	w.sink.Terminate() // the peer's port dies with its old incarnation
	w.feed("adder", 6, 10)
	sink, err := w.node.NewTask("sink2")
	require.NoError(t, err)
	rcv, err := sink.AllocatePort()
	require.NoError(t, err)
	require.NoError(t, sink.Register("sink", rcv)) // its new incarnation
	w.sink, w.sinkRcv = sink, rcv
	got = append(got, w.collect(10)...)
	require.Equal(t, want[:20], got)
	require.NoError(t, p.Err())
	require.Equal(t, 1, p.Stats().Incarnations)
}
