package publish

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// linkTo joins node n to the sink's node s by an in-memory link.
func linkTo(t *testing.T, n, s *kernel.Node) {
	t.Helper()
	ln, ls := link.NewMemPair(n.Name(), s.Name(), link.MemConfig{})
	require.NoError(t, n.AttachLink(ln))
	require.NoError(t, s.AttachLink(ls))
}

// feedRemote sends the numbers from..to, from a new task of node s, to
// the task registered as key on node home.
func feedRemote(t *testing.T, s *kernel.Node, home, key string, from, to int) {
	t.Helper()
	drv, err := s.NewTask("driver")
	require.NoError(t, err)
	defer drv.Terminate()
	dst, err := drv.Lookup(ctxT(t), home, key)
	require.NoError(t, err)
	for i := from; i <= to; i++ {
		body := binary.BigEndian.AppendUint64(nil, uint64(i))
		require.NoError(t, drv.Send(ctxT(t), &kernel.Message{Dest: dst, Body: body, RU: 99}))
	}
}

// The node of a published task dies — idle, or while the task replays
// its log after a crash — and the survivor, holding the mirrored bank,
// recovers the task from its checkpoint and log: the sink, on a third
// node, receives exactly the messages of the run without a crash.
// Reference: publishing.txt §3.4 step (1), a task restarted on another
// node; §6.4, the recorder's own recovery (here: STM and takeover).
func TestNodeDeathRecoversOnSurvivor(t *testing.T) {
	want := reference(t)
	for _, duringReplay := range []bool{false, true} {
		name := map[bool]string{false: "idle", true: "during replay"}[duringReplay]
		t.Run(name, func(t *testing.T) {
			s := newWorld(t, "s", nil, Rule{})
			a := kernel.NewNode(kernel.Config{Name: "a", Logger: zaptest.NewLogger(t)})
			t.Cleanup(a.Shutdown)
			linkTo(t, a, s.node)
			bankA, backup := stmtest.Mirrored(t)
			var once sync.Once
			kill := func() { once.Do(func() { a.Shutdown(); _ = bankA.Close() }) }
			var fp failpoint.Hook
			if duringReplay {
				crashOn16 := failpoint.Nth("adder.between-sends", "", 16)
				fp = func(point, subject string) error {
					if point == "publish.replay" {
						kill()
						return failpoint.ErrCrash
					}
					return crashOn16(point, subject)
				}
			}
			mgrA := NewManager(Config{Node: a, Bank: bankA, Failpoint: fp, Rule: Rule{MinBytes: 200}})
			t.Cleanup(mgrA.Stop)
			pa, err := mgrA.Start(ctxT(t), adderSpec("s", fp))
			require.NoError(t, err)
			feedRemote(t, s.node, "a", "adder", 1, 15)
			got := s.collect(30)
			if duringReplay {
				feedRemote(t, s.node, "a", "adder", 16, 16)
				got = append(got, s.collect(1)...) // 16's first send, then the crash
				<-pa.Done()                        // the replay killed the node
			}
			kill()

			b := kernel.NewNode(kernel.Config{Name: "b", Logger: zaptest.NewLogger(t)})
			t.Cleanup(b.Shutdown)
			linkTo(t, b, s.node)
			mgrB := NewManager(Config{Node: b, Bank: stmtest.Survivor(t, backup), Rule: Rule{MinBytes: 200}})
			t.Cleanup(mgrB.Stop)
			ps, err := mgrB.Takeover(ctxT(t), []Spec{adderSpec("s", nil), {Name: "absent", New: adderSpec("", nil).New}})
			require.NoError(t, err)
			require.Len(t, ps, 1, "the bank records the adder only")
			from := 16
			if duringReplay {
				got = append(got, s.collect(1)...) // 16's second send, by the recovered task
				from = 17
			}
			feedRemote(t, s.node, "b", "adder", from, inputs)
			got = append(got, s.collect(2*(inputs-from+1))...)
			require.Equal(t, want, got)
			require.Positive(t, ps[0].Stats().Suppressed+ps[0].Stats().Replayed, "the survivor replayed the log")
		})
	}
}

// relay is a published task forwarding what it receives to its sink.
type relay struct{ adder }

func (r *relay) Handle(env *Env, m *kernel.Message) error {
	return env.Send(&kernel.Message{Dest: env.Peer("sink"), Body: m.Body})
}

// The node of a published task dies after a send and before the commit
// of that send's number: the survivor's recovery sends the message
// again, and the published receiver's recorder, which logged that number
// already, drops it — the sink behind the receiver gets every message
// exactly once. Reference: publishing.txt §3.2 (per-sender sequence
// numbers), §3.4 ("ignore all messages sent by the recovering process
// until the process sends a message it had not sent before").
func TestNodeDeathBetweenSendAndItsNumber(t *testing.T) {
	want := reference(t)
	s := newWorld(t, "s", nil, Rule{})
	_, err := s.mgr.Start(ctxT(t), Spec{Name: "relay", New: func() Machine { return &relay{} },
		Connect: adderSpec("s", nil).Connect})
	require.NoError(t, err)
	adderTo := func() Spec {
		spec := adderSpec("s", nil)
		spec.Connect = func(ctx context.Context, t *kernel.Task) (map[string]kernel.Name, error) {
			r, err := t.Lookup(ctx, "s", "relay")
			return map[string]kernel.Name{"sink": r}, err
		}
		return spec
	}
	a := kernel.NewNode(kernel.Config{Name: "a", Logger: zaptest.NewLogger(t)})
	t.Cleanup(a.Shutdown)
	linkTo(t, a, s.node)
	bankA, backup := stmtest.Mirrored(t)
	tenthB := failpoint.Nth("publish.send.after", "adder", 20) // input 10's second send
	fp := func(point, subject string) error {
		err := tenthB(point, subject)
		if err != nil {
			a.Shutdown()
			_ = bankA.Close()
		}
		return err
	}
	mgrA := NewManager(Config{Node: a, Bank: bankA, Failpoint: fp, Rule: Rule{MinBytes: 200}})
	t.Cleanup(mgrA.Stop)
	pa, err := mgrA.Start(ctxT(t), adderTo())
	require.NoError(t, err)
	feedRemote(t, s.node, "a", "adder", 1, 10)
	got := s.collect(20)
	<-pa.Done()

	b := kernel.NewNode(kernel.Config{Name: "b", Logger: zaptest.NewLogger(t)})
	t.Cleanup(b.Shutdown)
	linkTo(t, b, s.node)
	mgrB := NewManager(Config{Node: b, Bank: stmtest.Survivor(t, backup), Rule: Rule{MinBytes: 200}})
	t.Cleanup(mgrB.Stop)
	ps, err := mgrB.Takeover(ctxT(t), []Spec{adderTo()})
	require.NoError(t, err)
	require.Len(t, ps, 1)
	feedRemote(t, s.node, "b", "adder", 11, inputs)
	got = append(got, s.collect(2*(inputs-10))...)
	require.Equal(t, want, got)
	relayStats := s.mgr.Task("relay").Stats()
	require.Equal(t, uint64(1), relayStats.Duplicates, "the re-sent message was dropped by the relay's recorder")
}
