package publish

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/internal/proctest"
	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// The process test: this binary re-executes itself as node "a", which
// runs the published adder and the primary bank of its log; the test
// process is node "p", with the backup bank and the sink, joined to "a"
// by kernel/link's authenticated TCP link (STM and ports on its Mux).
var roles = proctest.Roles{"published": publishedProcess}

func TestHelperProcess(t *testing.T) { os.Exit(proctest.Dispatch(t, os.Stderr, roles)) }

func linkConfig(name string) link.Config {
	return link.Config{Name: name, Secret: []byte("publish-process-test-secret!!!!!")}
}

// channels opens the STM and ports channels of a node link.
func channels(l link.Link) (stmCh, ports link.Link, err error) {
	mux := link.NewMux(l, nil)
	if stmCh, err = mux.Channel(link.ServiceSTM); err != nil {
		return nil, nil, err
	}
	ports, err = mux.Channel(link.ServicePorts)
	return stmCh, ports, err
}

// publishedProcess is node "a": it publishes the adder, its log in a bank
// mirrored to the test process, and serves until it is killed.
func publishedProcess(args []string) error {
	ctx := context.Background()
	l, err := link.Dial(ctx, args[0], linkConfig("a"))
	if err != nil {
		return err
	}
	stmCh, ports, err := channels(l)
	if err != nil {
		return err
	}
	bank := stm.NewBank(stm.Config{})
	if err := bank.Attach(ctx, stm.NewRemoteMirror(stmCh, stm.RemoteConfig{})); err != nil {
		return err
	}
	node := kernel.NewNode(kernel.Config{Name: "a"})
	if err := node.AttachLink(ports); err != nil {
		return err
	}
	mgr := NewManager(Config{Node: node, Bank: bank, Rule: Rule{MinBytes: 200}})
	spec := adderVia(args[1])
	spec.New = func() Machine { return &printingAdder{} }
	p, err := mgr.Start(ctx, spec)
	if err != nil {
		return err
	}
	fmt.Println("started")
	<-p.Done()
	return fmt.Errorf("published task ended: %v", p.Err())
}

// adderVia is the adder sending to the task registered as key on node
// "p" (its peer "sink").
func adderVia(key string) Spec {
	spec := adderSpec("p", nil)
	spec.Connect = func(ctx context.Context, t *kernel.Task) (map[string]kernel.Name, error) {
		to, err := t.Lookup(ctx, "p", key)
		return map[string]kernel.Name{"sink": to}, err
	}
	return spec
}

// printingAdder is the adder that says "handled N" once it has handled
// its N-th message live (its sends and their numbers committed).
type printingAdder struct{ adder }

func (a *printingAdder) Handle(env *Env, m *kernel.Message) error {
	if err := a.adder.Handle(env, m); err != nil {
		return err
	}
	if !env.Replaying() {
		fmt.Printf("handled %d\n", a.N)
	}
	return nil
}

// procWorld is the test process's side: node "p" with the sink, and the
// backup bank of node "a".
type procWorld struct {
	*world
	backup    *stm.Backup
	backupEnd chan error
}

// startProcWorld starts node "p" (setup, if set, prepares it) and the
// child node "a", whose adder sends to the task registered as peer on "p".
func startProcWorld(t *testing.T, peer string, setup func(*world)) (*procWorld, *proctest.Process) {
	ln, err := link.Listen("127.0.0.1:0", linkConfig("p"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	w := &procWorld{world: newWorld(t, "p", nil, Rule{MinBytes: 200}), backup: stm.NewBackup(stm.BackupConfig{}),
		backupEnd: make(chan error, 1)}
	if setup != nil {
		setup(w.world)
	}
	child := proctest.Start(t, proctest.Spec{Role: "published", Args: []string{ln.Addr(), peer}, Timeout: 60 * time.Second})
	l, err := ln.Accept(ctxT(t))
	require.NoError(t, err)
	stmCh, ports, err := channels(l)
	require.NoError(t, err)
	go func() { w.backupEnd <- stm.ServeBackup(context.Background(), stmCh, w.backup) }()
	require.NoError(t, w.node.AttachLink(ports))
	t.Cleanup(func() { _ = l.Close() })
	require.Equal(t, "started", child.Line())
	return w, child
}

// sendInput sends the number i from drv to dst, numbered i as if drv
// were a published sender (so the adder's recorder drops a resent one).
func sendInput(t testing.TB, drv *kernel.Task, dst kernel.Name, i int) {
	body := binary.BigEndian.AppendUint64(nil, uint64(i))
	m := &kernel.Message{Dest: dst, Body: body, RU: 99, SenderID: 77, SenderSeq: uint64(i)}
	require.NoError(t, drv.Send(ctxT(t), m))
}

// stopAndWait sends the numbers from..to to dst, each once its
// predecessor's two outputs reached the sink, and returns the outputs.
func (w *procWorld) stopAndWait(drv *kernel.Task, dst kernel.Name, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		sendInput(w.t, drv, dst, i)
		for range 2 {
			m, err := w.sink.Receive(ctxT(w.t), w.sinkRcv)
			require.NoError(w.t, err)
			out = append(out, string(m.Body))
		}
	}
	return out
}

// The node running a published task — and the primary bank of its
// recorder — is killed with SIGKILL; the test process, which held the
// backup bank, takes it over and recovers the task from its checkpoint
// and log: the sink receives exactly the messages of a run without the
// crash. Reference: publishing.txt §3.3 (a processor crash is a crash of
// all its processes), §3.4, §6.4 (the recorder's own recovery).
func TestProcessKilledRecoversOnSurvivor(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	want := reference(t)
	w, child := startProcWorld(t, "sink", nil)
	drv, err := w.node.NewTask("driver")
	require.NoError(t, err)
	dst, err := drv.Lookup(ctxT(t), "a", "adder")
	require.NoError(t, err)
	got := w.stopAndWait(drv, dst, 1, 13)
	for line := child.Line(); line != "handled 13"; line = child.Line() {
	}
	require.NoError(t, child.Kill()) // SIGKILL
	_ = child.Wait()
	require.Error(t, <-w.backupEnd, "the backup saw its primary go")

	bank := stmtest.Survivor(t, w.backup)
	mgr := NewManager(Config{Node: w.node, Bank: bank, Rule: Rule{MinBytes: 200}, Logger: zaptest.NewLogger(t)})
	t.Cleanup(mgr.Stop)
	ps, err := mgr.Takeover(ctxT(t), []Spec{adderSpec("p", nil)})
	require.NoError(t, err)
	require.Len(t, ps, 1)
	dst, err = drv.Lookup(ctxT(t), "p", "adder")
	require.NoError(t, err)
	got = append(got, w.stopAndWait(drv, dst, 14, inputs)...)
	require.Equal(t, want, got)
	st := ps[0].Stats()
	t.Logf("survivor: %+v", st)
	require.Positive(t, st.Replayed, "the log since the last checkpoint was replayed")
	require.Positive(t, st.Suppressed, "what the task had sent was not sent again")
	_, err = w.sink.ReceiveTimeout(ctxT(t), w.sinkRcv, 50*time.Millisecond)
	require.True(t, errors.Is(err, kernel.ErrTimedOut), "nothing beyond the expected outputs")
}

// The same, but the kill falls while the adder handles a message: its
// input may or may not be logged, and its outputs may be sent with their
// numbers not yet committed. The driver sends the input again after the
// takeover (the adder's recorder drops it if it was logged), and the
// adder's outputs go through a published relay (whose recorder drops a
// number it already has): the sink behind it receives exactly the
// messages of a run without the crash.
func TestProcessKilledMidMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	want := reference(t)
	w, child := startProcWorld(t, "relay", func(w *world) {
		_, err := w.mgr.Start(ctxT(t), Spec{Name: "relay", New: func() Machine { return &relay{} },
			Connect: adderSpec("p", nil).Connect})
		require.NoError(t, err)
	})
	drv, err := w.node.NewTask("driver")
	require.NoError(t, err)
	dst, err := drv.Lookup(ctxT(t), "a", "adder")
	require.NoError(t, err)
	got := w.stopAndWait(drv, dst, 1, 13)
	sendInput(t, drv, dst, 14)
	require.NoError(t, child.Kill()) // SIGKILL, while 14 is on its way or being handled
	_ = child.Wait()
	require.Error(t, <-w.backupEnd, "the backup saw its primary go")

	mgr := NewManager(Config{Node: w.node, Bank: stmtest.Survivor(t, w.backup), Rule: Rule{MinBytes: 200}})
	t.Cleanup(mgr.Stop)
	ps, err := mgr.Takeover(ctxT(t), []Spec{adderVia("relay")})
	require.NoError(t, err)
	require.Len(t, ps, 1)
	dst, err = drv.Lookup(ctxT(t), "p", "adder")
	require.NoError(t, err)
	for i := 14; i <= inputs; i++ {
		sendInput(t, drv, dst, i)
	}
	got = append(got, w.collect(2*inputs-len(got))...)
	require.Equal(t, want, got)
	t.Logf("survivor: %+v; relay: %+v", ps[0].Stats(), w.mgr.Task("relay").Stats())
}
