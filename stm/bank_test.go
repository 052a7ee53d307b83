package stm

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

type account struct {
	Owner   string
	Balance int64
	Tags    []string
}

func TestTypedAndPageObjects(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	ctx := context.Background()
	acct := Var[account]{ID: 7}
	var pageID ID
	page := bytes.Repeat([]byte{0xAB}, 8192)
	err := p.b.Update(ctx, func(tx *Tx) error {
		if err := acct.Set(tx, account{Owner: "ann", Balance: 10, Tags: []string{"x"}}); err != nil {
			return err
		}
		var err error
		pageID, err = tx.Create(page)
		return err
	})
	require.NoError(t, err)
	require.GreaterOrEqual(t, pageID, FirstAllocatedID)
	err = p.b.Update(ctx, func(tx *Tx) error {
		a, err := acct.Get(tx)
		if err != nil {
			return err
		}
		a.Balance += 5
		if err := acct.Set(tx, a); err != nil {
			return err
		}
		return tx.WriteAt(pageID, 100, []byte("hello"))
	})
	require.NoError(t, err)
	for name, dump := range map[string]map[ID][]byte{"primary": p.b.Dump(), "backup": p.k.Dump()} {
		a, err := Decode[account](dump[7])
		require.NoError(t, err, name)
		require.Equal(t, account{Owner: "ann", Balance: 15, Tags: []string{"x"}}, a, name)
		want := append([]byte(nil), page...)
		copy(want[100:], "hello")
		require.Equal(t, want, dump[pageID], name)
	}
	require.Equal(t, byte(0xAB), page[100], "WriteAt must not modify the committed version in place")
}

func TestDeleteAndInsert(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	ctx := context.Background()
	put(t, p.b, 1, "a")
	err := p.b.Update(ctx, func(tx *Tx) error { return tx.Insert(1, []byte("b")) })
	require.ErrorIs(t, err, ErrExists)
	require.NoError(t, p.b.Update(ctx, func(tx *Tx) error { return tx.Delete(1) }))
	require.Empty(t, p.b.Dump())
	require.Empty(t, p.k.Dump())
	err = p.b.View(ctx, func(tx *Tx) error { _, err := tx.Bytes(1); return err })
	require.ErrorIs(t, err, ErrNotFound)
}

// A second writer of the same object gets ErrConflict at once (no waiting).
func TestWriteWriteConflictFailsFast(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	ctx := context.Background()
	t1, t2 := p.b.Begin(), p.b.Begin()
	require.NoError(t, t1.Put(1, []byte("one")))
	require.ErrorIs(t, t2.Put(1, []byte("two")), ErrConflict)
	require.Equal(t, Aborted, t2.Phase())
	require.NoError(t, t1.Commit(ctx))
	require.Equal(t, map[ID]string{1: "one"}, strMap(p.k.Dump()))
}

// A read validated at commit: the reader fails if the object changed.
func TestReadValidationConflict(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	ctx := context.Background()
	put(t, p.b, 1, "x0")
	put(t, p.b, 2, "y0")
	t1 := p.b.Begin()
	_, err := t1.Bytes(1)
	require.NoError(t, err)
	put(t, p.b, 1, "x1")
	require.NoError(t, t1.Put(2, []byte("y1")))
	require.ErrorIs(t, t1.Commit(ctx), ErrConflict)
	require.Equal(t, map[ID]string{1: "x1", 2: "y0"}, strMap(p.k.Dump()))
}

// Write skew is refused: each transaction reads what the other writes.
func TestWriteSkewRefused(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	ctx := context.Background()
	put(t, p.b, 1, "0")
	put(t, p.b, 2, "0")
	t1, t2 := p.b.Begin(), p.b.Begin()
	_, _ = t1.Bytes(1)
	_, _ = t2.Bytes(2)
	require.NoError(t, t1.Put(2, []byte("t1")))
	require.NoError(t, t2.Put(1, []byte("t2")))
	e1, e2 := t1.Commit(ctx), t2.Commit(ctx)
	require.True(t, (e1 == nil) != (e2 == nil), "exactly one commits: %v / %v", e1, e2)
}

func TestUpdateAbortsOnErrorAndPanic(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	ctx := context.Background()
	boom := errors.New("boom")
	err := p.b.Update(ctx, func(tx *Tx) error { _ = tx.Put(1, []byte("x")); return boom })
	require.ErrorIs(t, err, boom)
	require.Panics(t, func() {
		_ = p.b.Update(ctx, func(tx *Tx) error { _ = tx.Put(1, []byte("y")); panic("p") })
	})
	require.Empty(t, p.b.Dump())
	put(t, p.b, 1, "z") // the lock was released
	require.ErrorIs(t, p.b.View(ctx, func(tx *Tx) error { return tx.Put(2, nil) }), ErrReadOnly)
}

// Reference: §3.3 — commit needs the backup; abort does not.
func TestCommitRefusedWithoutBackup(t *testing.T) {
	b := NewBank(Config{})
	err := b.Update(context.Background(), func(tx *Tx) error { return tx.Put(1, []byte("x")) })
	require.ErrorIs(t, err, ErrNoBackup)
	p := newPair(t, Config{}, BackupConfig{})
	put(t, p.b, 1, "old")
	p.lm.Cut()
	err = p.b.Update(context.Background(), func(tx *Tx) error { return tx.Put(1, []byte("new")) })
	require.ErrorIs(t, err, ErrNoBackup)
	require.Equal(t, map[ID]string{1: "old"}, strMap(p.b.Dump()))
	// Reads still work without a backup.
	require.NoError(t, p.b.View(context.Background(), func(tx *Tx) error { _, err := tx.Bytes(1); return err }))
}

// Reference: §3.3 — "we keep an old object version on the primary machine":
// a group member in phase 2 aborts from the primary's old version after
// the backup died.
func TestSoftwareAbortAfterBackupDied(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	ctx := context.Background()
	put(t, p.b, 1, "old")
	tx := p.b.Begin()
	require.NoError(t, tx.Put(1, []byte("new")))
	require.NoError(t, tx.Precommit(ctx, 9))
	p.k.Crash()
	require.NoError(t, p.b.Decide(ctx, 9, false))
	require.ErrorIs(t, tx.Wait(ctx), ErrAborted)
	require.Equal(t, map[ID]string{1: "old"}, strMap(p.b.Dump()))
}

// Reference: §3.1.1, §3.3 phase 2 — members of a group commit or abort together.
func TestGroupCommitsTogether(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	ctx := context.Background()
	for _, commit := range []bool{false, true} {
		g := GroupID(1)
		if commit {
			g = 2
		}
		t1, t2 := p.b.Begin(), p.b.Begin()
		require.NoError(t, t1.Put(1, []byte{byte(g)}))
		require.NoError(t, t2.Put(2, []byte{byte(g)}))
		require.NoError(t, t1.Precommit(ctx, g))
		require.NoError(t, t2.Precommit(ctx, g))
		require.Equal(t, Phase2, t1.Phase())
		require.Len(t, p.k.InDoubt()[g], 2)
		require.NoError(t, p.b.Decide(ctx, g, commit))
		require.Empty(t, p.k.InDoubt())
		if !commit {
			require.ErrorIs(t, t1.Wait(ctx), ErrAborted)
			require.Empty(t, p.k.Dump())
			continue
		}
		require.NoError(t, t1.Wait(ctx))
		require.NoError(t, t2.Wait(ctx))
		want := map[ID]string{1: "\x02", 2: "\x02"}
		require.Equal(t, want, strMap(p.b.Dump()))
		require.Equal(t, want, strMap(p.k.Dump()))
	}
	late := p.b.Begin()
	require.NoError(t, late.Put(3, nil))
	require.ErrorIs(t, late.Precommit(ctx, 2), ErrGroupDecided)
}

// Reference: §2.2 — epoch fencing: after a takeover the old primary cannot commit.
func TestStalePrimaryFenced(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	ctx := context.Background()
	put(t, p.b, 1, "a")
	nb, rep, err := p.k.Takeover(ctx, Config{})
	require.NoError(t, err)
	require.Equal(t, uint64(2), rep.Epoch)
	err = p.b.Update(ctx, func(tx *Tx) error { return tx.Put(1, []byte("stale")) })
	require.ErrorIs(t, err, ErrFenced)
	err = p.b.Update(ctx, func(tx *Tx) error { return tx.Put(2, []byte("stale")) })
	require.ErrorIs(t, err, ErrFenced)
	require.Equal(t, map[ID]string{1: "a"}, strMap(nb.Dump()))
	// A backup that saw epoch 2 refuses an attach from the stale epoch 1.
	k2 := NewBackup(BackupConfig{})
	require.NoError(t, nb.Attach(ctx, NewLocalMirror(k2)))
	stale := NewBank(Config{})
	require.ErrorIs(t, stale.Attach(ctx, NewLocalMirror(k2)), ErrFenced)
}

// A new backup joins a running primary and gets a full copy while commits go on.
func TestAttachWhileCommitting(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	ctx := context.Background()
	for i := range 200 {
		put(t, p.b, ID(i), "v0")
	}
	p.k.Crash()
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			id := ID(n % 300)
			if p.b.Update(ctx, func(tx *Tx) error { return tx.Put(id, []byte("v1")) }) == nil {
				n++
			}
		}
	}()
	k2 := NewBackup(BackupConfig{})
	require.NoError(t, p.b.Attach(ctx, NewLocalMirror(k2)))
	put(t, p.b, 999, "after")
	close(stop)
	<-done
	require.True(t, k2.Ready())
	require.Equal(t, strMap(p.b.Dump()), strMap(k2.Dump()))
}

func TestInspect(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	ctx := context.Background()
	put(t, p.b, 1, "abc")
	tx := p.b.Begin()
	require.NoError(t, tx.Put(1, []byte("x")))
	require.NoError(t, tx.Precommit(ctx, 4))
	require.Equal(t, []ObjectInfo{{ID: 1, Size: 3, Seq: 1, Locked: tx.ID()}}, p.b.Objects())
	require.Equal(t, []TxInfo{{ID: tx.ID(), Phase: Phase2, Group: 4, Seq: 2, Writes: 1}}, p.b.Transactions())
	require.NoError(t, p.b.Decide(ctx, 4, false))
	require.Empty(t, p.b.Transactions())
}

// A writer still in its working phase does not make readers fail: they
// serialize before it. A writer already validated (phase 2) does.
func TestReadersAndLongWriters(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	ctx := context.Background()
	put(t, p.b, 1, "v1")
	long := p.b.Begin()
	require.NoError(t, long.Put(1, []byte("v2")))
	read := func() error { return p.b.View(ctx, func(tx *Tx) error { _, err := tx.Bytes(1); return err }) }
	require.NoError(t, read())
	require.NoError(t, long.Precommit(ctx, 3))
	require.ErrorIs(t, read(), ErrConflict)
	require.NoError(t, p.b.Decide(ctx, 3, true))
	require.NoError(t, read())
}

// A resent decision is accepted; the opposite decision is refused.
func TestDecideIdempotent(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	ctx := context.Background()
	tx := p.b.Begin()
	require.NoError(t, tx.Put(1, []byte("x")))
	require.NoError(t, tx.Precommit(ctx, 8))
	require.NoError(t, p.b.Decide(ctx, 8, true))
	require.NoError(t, p.b.Decide(ctx, 8, true))
	require.ErrorIs(t, p.b.Decide(ctx, 8, false), ErrGroupDecided)
	require.Equal(t, map[ID]string{1: "x"}, strMap(p.k.Dump()))
}
