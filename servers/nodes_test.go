package servers

import (
	"context"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/kerneltest"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// The server and the application on two kernel nodes joined by a link,
// each node with its own bank: requests, replies and protocol envelopes
// cross netmsg, names resolve on the peer, and a checkpoint started on one
// node commits the server's state in the other node's bank.
func TestAcrossTwoNodes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := twoNodes(ctx, t)
	da, db, bankA := r.da, r.db, r.bankA
	srv := newCounterServer(Config{Name: "kv", Driver: da})
	done := make(chan error, 1)
	sctx, stop := context.WithCancel(ctx)
	go func() { done <- srv.Run(sctx) }()
	defer func() { stop(); <-done }()

	app, err := NewClient(ClientConfig{Name: "app", Driver: db})
	require.NoError(t, err)
	defer app.Close()
	var n int
	require.Eventually(t, func() bool {
		n, err = mAdd("kv").Call(ctx, app, addReq{Key: "x", By: 4, Tag: "t1"})
		return err == nil
	}, waitFor, 5*time.Millisecond, "the server never answered across the link")
	require.Equal(t, 4, n)
	before := app.RU()
	require.NoError(t, app.Checkpoint(ctx))
	require.Equal(t, before.Inc+1, app.RU().Inc)

	// The decision travels to the server's node; its bank commits S then.
	require.Eventually(t, func() bool {
		tx := bankA.Begin()
		defer tx.Abort()
		b, err := tx.Bytes(stableID(tx, stateName("kv")))
		if err != nil {
			return false
		}
		st, err := stm.Decode[stable[counters]](b)
		return err == nil && st.State.N["x"] == 4
	}, waitFor, time.Millisecond, "committed in the server's bank on the other node")
	ea, _ := da.Stats()
	eb, _ := db.Stats()
	require.Positive(t, ea)
	require.Positive(t, eb)
}

// twoDrivers is two kernel nodes joined by a link, a driver on each.
type twoDrivers struct {
	na, nb *kernel.Node
	da, db *Driver   // host "ha" on a, "hb" on b
	bankA  *stm.Bank // da's bank (db has its own)
}

// twoNodes joins kernel nodes a and b by an in-memory link and starts a
// driver on each, each over its own bank.
func twoNodes(ctx context.Context, t *testing.T) twoDrivers {
	na, nb := kerneltest.LinkedNodes(t, "a", "b")
	driver := func(n *kernel.Node, host string) (*Driver, *stm.Bank) {
		bank, _ := stmtest.Mirrored(t)
		task, err := n.NewTask(host)
		require.NoError(t, err)
		d, err := NewDriver(DriverConfig{Host: host, Task: task, Bank: bank, Names: names.NewKernel(task, nil),
			TickPeriod: 2 * time.Millisecond, Logger: zap.NewNop()})
		require.NoError(t, err)
		d.Start()
		t.Cleanup(d.Close)
		return d, bank
	}
	r := twoDrivers{na: na, nb: nb}
	r.da, r.bankA = driver(na, "ha")
	r.db, _ = driver(nb, "hb")
	return r
}
