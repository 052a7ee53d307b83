package publish

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// adder is the published machine of the tests: it adds the numbers it
// receives and sends two lines to its peer "sink" per number (a crash
// may fall between them), with a draw of its random source in each.
type adder struct {
	Sum, N uint64
	fp     failpoint.Hook // "adder.between-sends": crash between the two sends
}

func (a *adder) Handle(env *Env, m *kernel.Message) error {
	a.N++
	a.Sum += binary.BigEndian.Uint64(m.Body)
	r := env.Rand().Uint64() % 1000
	for i, part := range []string{"a", "b"} {
		if i == 1 && a.fp.Fires("adder.between-sends", "") {
			panic("adder crashed between its sends")
		}
		body := fmt.Sprintf("n=%d sum=%d r=%d %s", a.N, a.Sum, r, part)
		if err := env.Send(&kernel.Message{Dest: env.Peer("sink"), Body: []byte(body)}); err != nil {
			return err
		}
	}
	if m.Reply != kernel.NameNull {
		return env.Reply(m, &kernel.Message{Body: []byte(fmt.Sprint(a.Sum))})
	}
	return nil
}

func (a *adder) Snapshot() ([]byte, error) {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, a.Sum), a.N), nil
}

func (a *adder) Restore(b []byte) error {
	a.Sum, a.N = 0, 0
	if len(b) == 16 {
		a.Sum, a.N = binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])
	}
	return nil
}

// world is one node with a sink task and a manager of published tasks
// logging in a mirrored bank.
type world struct {
	t       testing.TB
	node    *kernel.Node
	bank    *stm.Bank
	backup  *stm.Backup
	mgr     *Manager
	sink    *kernel.Task
	sinkRcv kernel.Name
}

func newWorld(t testing.TB, name string, fp failpoint.Hook, rule Rule) *world {
	t.Helper()
	w := &world{t: t, node: kernel.NewNode(kernel.Config{Name: name, Logger: zaptest.NewLogger(t)})}
	t.Cleanup(w.node.Shutdown)
	w.bank, w.backup = stmtest.Mirrored(t)
	w.mgr = NewManager(Config{Node: w.node, Bank: w.bank, Failpoint: fp, Rule: rule, Logger: zaptest.NewLogger(t)})
	t.Cleanup(w.mgr.Stop)
	var err error
	w.sink, err = w.node.NewTask("sink")
	require.NoError(t, err)
	w.sinkRcv, err = w.sink.AllocatePort()
	require.NoError(t, err)
	require.NoError(t, w.sink.Register("sink", w.sinkRcv))
	return w
}

// adderSpec is the published adder, connected to the sink on node home.
func adderSpec(home string, fp failpoint.Hook) Spec {
	return Spec{
		Name: "adder", Seed: 7,
		New: func() Machine { return &adder{fp: fp} },
		Connect: func(ctx context.Context, t *kernel.Task) (map[string]kernel.Name, error) {
			sink, err := t.Lookup(ctx, home, "sink")
			return map[string]kernel.Name{"sink": sink}, err
		},
	}
}

// feed sends the numbers 1..n to the task registered as key, from a task
// of its own on w's node.
func (w *world) feed(key string, from, to int) {
	t := w.t
	t.Helper()
	drv, err := w.node.NewTask("driver")
	require.NoError(t, err)
	defer drv.Terminate()
	dst, err := drv.Lookup(ctxT(t), w.node.Name(), key)
	require.NoError(t, err)
	for i := from; i <= to; i++ {
		body := binary.BigEndian.AppendUint64(nil, uint64(i))
		require.NoError(t, drv.Send(ctxT(t), &kernel.Message{Dest: dst, Body: body, RU: 99}))
	}
}

// collect receives n messages at the sink and returns their bodies; then
// it checks that no more arrive for a little while (none duplicated).
func (w *world) collect(n int) []string {
	t := w.t
	t.Helper()
	out := make([]string, 0, n)
	for len(out) < n {
		m, err := w.sink.Receive(ctxT(t), w.sinkRcv)
		require.NoError(t, err, "after %d of %d: %v", len(out), n, out)
		out = append(out, string(m.Body))
	}
	_, err := w.sink.ReceiveTimeout(ctxT(t), w.sinkRcv, 50*time.Millisecond)
	require.ErrorIs(t, err, kernel.ErrTimedOut, "a message beyond the %d expected", n)
	return out
}
