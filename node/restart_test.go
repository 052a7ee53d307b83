package node

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/internal/proctest"
)

func init() { roles["lognode"] = logNodeRole }

// logNodeRole is nodeRole logging JSON lines to DIR/NAME.log, for a test
// that shows them when it fails.
func logNodeRole(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	cfg := zap.NewProductionConfig()
	cfg.Sampling = nil
	cfg.OutputPaths = []string{filepath.Join(args[0], args[1]+".log")}
	log, err := cfg.Build()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	return Run(ctx, Config{Dir: args[0], Name: args[1], Logger: log}, Server("counter", newCounter, Op(addOp)))
}

// startLoggedNode starts node name of the pair in dir, logging to
// DIR/NAME.log, which the test prints if it fails.
func startLoggedNode(t *testing.T, dir, name string) *proctest.Process {
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, name+".log"))
			t.Logf("%s.log:\n%s", name, b)
		}
	})
	return proctest.Start(t, proctest.Spec{Role: "lognode", Args: []string{dir, name}, Timeout: 3 * time.Minute})
}

// Reference: pair/doc.go, "Leases" — n1 is SIGKILLed and run again at once,
// while n2 still waits for the group's lease to take n1's bank over: the
// restarted process holds an empty copy, so n2's backup copy wins, n1
// rejoins as the backup of both banks, and every acknowledged update is
// there. (It deadlocked the pair: n2's link loop waited in the takeover
// while n1's new process kept its lease.)
func TestNodeRestartedDuringItsPartnersLeaseWaitRejoins(t *testing.T) {
	g := startGroupPair(t, startLoggedNode)
	dir, p1, c1, c2 := g.dir, g.p1, g.c1, g.c2
	got, err := c1.add("n1/counter", 12)
	require.NoError(t, err)
	require.Equal(t, "12", got)

	require.NoError(t, p1.Kill())
	startLoggedNode(t, dir, "n1") // at once, as systemd or a script would
	eventually(t, "n1 rejoined as the backup of both banks", func() bool {
		st, ok := groupStatus(c2)
		return ok && st.LostCount >= 1 && st.Linked && backedUp(st.STM) && !holdsAlone(st, "n1") && !holdsAlone(st, "n2")
	})
	got, err = c2.add("n1/counter", 1)
	require.NoError(t, err)
	require.Equal(t, "13", got, "the acknowledged 12 survived on n2's copy")
}
