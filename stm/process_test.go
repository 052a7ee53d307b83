package stm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/internal/proctest"
	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/stretchr/testify/require"
)

// The two-process test: this test binary re-executes itself as a backup
// process and as a primary process (proctest roles), joined by
// kernel/link's authenticated TCP link on loopback, STM on the link's Mux
// channel for link.ServiceSTM.
var roles = proctest.Roles{
	"backup":       backupProcess,
	"primary":      primaryProcess,
	"bench-backup": proctest.BoundToParent(benchBackupProcess),
	"bench-echo":   proctest.BoundToParent(benchEchoProcess),
}

func TestHelperProcess(t *testing.T) { os.Exit(proctest.Dispatch(t, os.Stderr, roles)) }

// linkConfig is the node link configuration of the two helper processes:
// kernel/link's authenticated TCP link, STM on its own Mux channel.
func linkConfig(name string) link.Config {
	return link.Config{Name: name, Secret: []byte("two-process-test-shared-secret!!")}
}

// stmChannel opens the STM service channel of a node link.
func stmChannel(l link.Link) (link.Link, error) {
	return link.NewMux(l, nil).Channel(link.ServiceSTM)
}

// backupProcess serves one primary; when the link dies it takes over and
// dumps what it holds to the file named by its argument.
func backupProcess(args []string) error {
	ctx := context.Background()
	ln, err := link.Listen("127.0.0.1:0", linkConfig("backup"))
	if err != nil {
		return err
	}
	fmt.Printf("addr %s\n", ln.Addr())
	node, err := ln.Accept(ctx)
	if err != nil {
		return err
	}
	ch, err := stmChannel(node)
	if err != nil {
		return err
	}
	k := NewBackup(BackupConfig{})
	serveErr := ServeBackup(ctx, ch, k)
	nb, rep, err := k.Takeover(ctx, Config{})
	if err != nil {
		return fmt.Errorf("takeover after %v: %w", serveErr, err)
	}
	if len(rep.InDoubt) != 0 {
		return fmt.Errorf("unexpected in-doubt groups %v", rep.InDoubt)
	}
	out, err := json.Marshal(strMapKeys(nb.Dump()))
	if err != nil {
		return err
	}
	return os.WriteFile(args[0], out, 0o600)
}

func strMapKeys(m map[ID][]byte) map[string]string {
	out := make(map[string]string, len(m))
	for id, v := range m {
		out[strconv.FormatUint(uint64(id), 10)] = string(v)
	}
	return out
}

// procTx is transaction i of the stream: the counter, one of 20 slots, and
// every fifth time a 64 KiB blob, all set to i.
func procTx(tx *Tx, i int) error {
	v := []byte(strconv.Itoa(i))
	if err := tx.Put(1, v); err != nil {
		return err
	}
	if err := tx.Put(ID(10+i%20), v); err != nil {
		return err
	}
	if i%5 == 0 {
		return tx.Put(2, []byte(strings.Repeat(string(v)+",", 64<<10/(len(v)+1))))
	}
	return nil
}

// primaryProcess streams transactions to the backup at the address it is
// given forever, printing each one reported committed, until it is killed.
func primaryProcess(args []string) error {
	ctx := context.Background()
	node, err := link.Dial(ctx, args[0], linkConfig("primary"))
	if err != nil {
		return err
	}
	ch, err := stmChannel(node)
	if err != nil {
		return err
	}
	b := NewBank(Config{})
	if err := b.Attach(ctx, NewRemoteMirror(ch, RemoteConfig{})); err != nil {
		return err
	}
	for i := 1; ; i++ {
		if err := b.Update(ctx, func(tx *Tx) error { return procTx(tx, i) }); err != nil {
			return err
		}
		fmt.Printf("committed %d\n", i)
	}
}

// Reference: §3.3 — "failure of the primary machine": the primary process
// is killed with SIGKILL in the middle of a stream of transactions; the
// backup process takes over and holds exactly the transactions reported
// committed (plus, at most, the one whose commit was in flight and had
// already reached it), none partially.
func TestTwoProcessPrimaryKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dump := filepath.Join(t.TempDir(), "backup.json")
	backup := proctest.Start(t, proctest.Spec{Role: "backup", Args: []string{dump}, Timeout: 60 * time.Second})
	addr, ok := strings.CutPrefix(backup.Line(), "addr ")
	require.True(t, ok, "backup did not say its address first")

	primary := proctest.Start(t, proctest.Spec{Role: "primary", Args: []string{addr}, Timeout: 60 * time.Second})
	last := 0
	for line := range primary.Lines() {
		last = parseCommitted(t, line)
		if last >= 300 {
			break
		}
	}
	require.NoError(t, primary.Kill())  // SIGKILL, mid-stream
	for line := range primary.Lines() { // lines already in the pipe
		last = parseCommitted(t, line)
	}
	_ = primary.Wait()
	require.NoError(t, backup.Wait(), "backup process failed")

	raw, err := os.ReadFile(dump)
	require.NoError(t, err)
	var got map[string]string
	require.NoError(t, json.Unmarshal(raw, &got))
	n, err := strconv.Atoi(got["1"])
	require.NoError(t, err)
	t.Logf("primary reported %d committed; backup holds %d", last, n)
	require.GreaterOrEqual(t, n, last, "a transaction reported committed was lost")
	require.LessOrEqual(t, n, last+1, "the backup holds a transaction never sent")
	require.Equal(t, procModel(t, n), got, "backup state is not exactly transactions 1..%d", n)
}

func parseCommitted(t *testing.T, line string) int {
	s, ok := strings.CutPrefix(line, "committed ")
	require.True(t, ok, "primary said %q", line)
	i, err := strconv.Atoi(s)
	require.NoError(t, err)
	return i
}

// procModel is the state after transactions 1..n of procTx.
func procModel(t *testing.T, n int) map[string]string {
	ctx := context.Background()
	p := newPair(t, Config{}, BackupConfig{})
	for i := 1; i <= n; i++ {
		require.NoError(t, p.b.Update(ctx, func(tx *Tx) error { return procTx(tx, i) }))
	}
	return strMapKeys(p.b.Dump())
}
