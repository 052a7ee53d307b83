package stm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// bind binds name in ns in its own transaction and writes "ns/name" to
// the bound object, so that a dump shows what each id is bound to.
func bind(t *testing.T, b *Bank, ns Namespace, name string) ID {
	t.Helper()
	var id ID
	require.NoError(t, b.Update(context.Background(), func(tx *Tx) error {
		var err error
		if id, err = ns.Bind(tx, name); err != nil {
			return err
		}
		return tx.Put(id, []byte(string(ns)+"/"+name))
	}))
	return id
}

func lookup(t *testing.T, b *Bank, ns Namespace, name string) (ID, bool) {
	t.Helper()
	tx := b.Begin()
	defer tx.Abort()
	id, ok, err := ns.Lookup(tx, name)
	require.NoError(t, err)
	return id, ok
}

func TestNamesBindAllocatesDistinctIDs(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	seen := map[ID]string{RootID: "root"}
	for _, ns := range []Namespace{"task", "rvm", "files"} {
		for i := range 20 {
			name := fmt.Sprint("obj", i)
			id := bind(t, p.b, ns, name)
			require.GreaterOrEqual(t, id, FirstAllocatedID, "bound ids are allocated")
			require.NotContains(t, seen, id, "%s/%s shares an id", ns, name)
			seen[id] = string(ns) + "/" + name
			again := bind(t, p.b, ns, name)
			require.Equal(t, id, again, "a name keeps its id")
		}
	}
	dump := p.b.Dump()
	for id, what := range seen {
		if id != RootID {
			require.Equal(t, what, string(dump[id]))
		}
	}
}

func TestNamesAbortedBindingIsForgotten(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	ctx := context.Background()
	bind(t, p.b, "servers", "warm") // the directory exists and is cached
	tx := p.b.Begin()
	id, err := Namespace("servers").Bind(tx, "cold")
	require.NoError(t, err)
	got, ok, err := Namespace("servers").Lookup(tx, "cold")
	require.NoError(t, err)
	require.True(t, ok, "the creating transaction sees its binding")
	require.Equal(t, id, got)
	_, ok = lookup(t, p.b, "servers", "cold")
	require.False(t, ok, "an uncommitted binding is invisible")
	tx.Abort()
	_, ok = lookup(t, p.b, "servers", "cold")
	require.False(t, ok, "an aborted binding is gone")
	again := bind(t, p.b, "servers", "cold")
	require.NotEqual(t, id, again, "ids of an aborted transaction are never reused")
	rid, err := Namespace("servers").Resolve(ctx, p.b, "cold")
	require.NoError(t, err)
	require.Equal(t, again, rid)
}

func TestNamesUnbindInvalidatesCachedLookup(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	ctx := context.Background()
	id := bind(t, p.b, "rvm", "seg")
	got, ok := lookup(t, p.b, "rvm", "seg") // cached now
	require.True(t, ok)
	require.Equal(t, id, got)

	// A transaction that found the binding (a cache hit) conflicts with
	// one that removed it meanwhile.
	stale := p.b.Begin()
	_, ok, err := Namespace("rvm").Lookup(stale, "seg")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, p.b.Update(ctx, func(tx *Tx) error {
		if err := Namespace("rvm").Unbind(tx, "seg"); err != nil {
			return err
		}
		return tx.Delete(id)
	}))
	require.NoError(t, stale.Put(id, []byte("late")))
	require.ErrorIs(t, stale.Commit(ctx), ErrConflict)

	_, ok = lookup(t, p.b, "rvm", "seg")
	require.False(t, ok, "the unbound name is gone, cache or not")
	names := func() map[string]ID {
		tx := p.b.Begin()
		defer tx.Abort()
		m, err := Namespace("rvm").Names(tx)
		require.NoError(t, err)
		return m
	}
	require.Empty(t, names())
}

func TestNamesSurviveTakeoverAndReservationsDoNotOverlap(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	ctx := context.Background()
	var first ID
	require.NoError(t, p.b.Update(ctx, func(tx *Tx) error {
		id, err := Namespace("rvm").Bind(tx, "seg")
		if err != nil {
			return err
		}
		if first, err = tx.Reserve(1000); err != nil {
			return err
		}
		return tx.Put(id, []byte(fmt.Sprint(first)))
	}))
	nb, _, err := p.k.Takeover(ctx, Config{})
	require.NoError(t, err)
	defer nb.Close()
	id, ok := lookup(t, nb, "rvm", "seg")
	require.True(t, ok, "the binding was mirrored")
	require.Equal(t, fmt.Sprint(first), string(nb.Dump()[id]))
	tx := nb.Begin()
	defer tx.Abort()
	next, err := tx.Create([]byte("x"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, next, first+1000, "the reserved range stays reserved after a takeover")
	_, err = tx.Reserve(0)
	require.ErrorIs(t, err, ErrBadRange)
}

func TestNamesResolveConcurrent(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	ctx := context.Background()
	const n = 16
	ids := make([]ID, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := Namespace("servers").Resolve(ctx, p.b, fmt.Sprint("unit", i%8))
			require.NoError(t, err)
			ids[i] = id
		}()
	}
	wg.Wait()
	for i := range n {
		id, ok := lookup(t, p.b, "servers", fmt.Sprint("unit", i%8))
		require.True(t, ok)
		require.Equal(t, id, ids[i], "one id per name, whoever bound it")
		if i >= 8 {
			continue
		}
		for j := range i {
			require.NotEqual(t, ids[j], ids[i])
		}
	}
}

func TestGroupWritesListsAGroupsObjects(t *testing.T) {
	p := newPair(t, Config{}, BackupConfig{})
	ctx := context.Background()
	for _, id := range []ID{9, 3} {
		tx := p.b.Begin()
		require.NoError(t, tx.Put(id, []byte("v")))
		require.NoError(t, tx.Precommit(ctx, 42))
	}
	require.Equal(t, []ID{3, 9}, p.b.GroupWrites(42))
	require.Empty(t, p.b.GroupWrites(43))
	require.NoError(t, p.b.Decide(ctx, 42, true))
	require.Empty(t, p.b.GroupWrites(42))
}

// A binding is old or new with its data after the primary dies: a
// transaction binding a name and writing its object, caught in phase 2 by
// a takeover, leaves both when its group commits and neither when it
// aborts; a binding made while the primary was working is lost with it.
func TestNamesBindingCommitsWithItsDataAcrossTakeover(t *testing.T) {
	for _, commit := range []bool{true, false} {
		t.Run(decisionName(commit), func(t *testing.T) {
			p := newPair(t, Config{}, BackupConfig{})
			ctx := context.Background()
			bind(t, p.b, "files", "old")
			tx := p.b.Begin()
			id, err := Namespace("files").Bind(tx, "new")
			require.NoError(t, err)
			require.NoError(t, tx.Put(id, []byte("data")))
			require.NoError(t, tx.Precommit(ctx, 5))
			working := p.b.Begin() // never leaves the dead primary
			_, err = Namespace("files").Bind(working, "blocked")
			require.ErrorIs(t, err, ErrConflict, "the directory is held by the precommitted binding")
			working = p.b.Begin()
			_, err = Namespace("screen").Bind(working, "lost")
			require.NoError(t, err)

			nb, rep, err := p.k.Takeover(ctx, Config{})
			require.NoError(t, err)
			defer nb.Close()
			require.Contains(t, rep.InDoubt, GroupID(5))
			_, ok := lookup(t, nb, "files", "new")
			require.False(t, ok, "in doubt: not visible yet")
			err = nb.Decide(ctx, 5, commit)
			require.True(t, err == nil || errors.Is(err, ErrBackupLost), "decide: %v", err)
			got, ok := lookup(t, nb, "files", "new")
			require.Equal(t, commit, ok, "the binding follows its group")
			_, has := nb.Dump()[id]
			require.Equal(t, commit, has, "the data follows its group")
			if commit {
				require.Equal(t, id, got)
			}
			_, ok = lookup(t, nb, "screen", "lost")
			require.False(t, ok)
			_, ok = lookup(t, nb, "files", "old")
			require.True(t, ok)
		})
	}
}
