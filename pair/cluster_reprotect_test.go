package pair

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/cluster"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/stm"
)

// models holds what each bank must hold: the values of reported commits.
type models map[string]model

// commitAll commits a batch to every bank at its primary as the group
// records it, and records the values.
func (c *testCluster) commitAll(live map[string]*member, md models, tag string, from int) {
	c.t.Helper()
	st := c.g.Member(firstName(live)).State()
	for _, bank := range c.names {
		if md[bank] == nil {
			md[bank] = model{}
		}
		b := live[st.Banks[bank].Primary].st.Bank(bank)
		require.NotNil(c.t, b, "bank %s at its primary %s", bank, st.Banks[bank].Primary)
		commit(c.t, b, md[bank], batch{tag, from, 5})
	}
}

// holdsExactly checks that every bank's primary holds exactly its model.
func (c *testCluster) holdsExactly(live map[string]*member, md models) {
	c.t.Helper()
	st := c.g.Member(firstName(live)).State()
	for _, bank := range c.names {
		require.Equal(c.t, md[bank], dump(live[st.Banks[bank].Primary].st.Bank(bank)), "bank %s", bank)
	}
}

// Reference: paper §2.1, §3.3.2; re-protection onto any node (docs/architecture.md, clusters) —
// with three nodes, a bank that lost its backup (or its primary) is
// protected again onto the third node chosen by the group's placement
// while its primary keeps committing; a second failure is then survived
// with no restart; a restarted node rejoins as a spare and placement
// makes it the backup of every bank.
func TestClusterReprotectsOntoTheThirdNodeAndSurvivesASecondFailure(t *testing.T) {
	c := newTestCluster(t, "a", "b", "c")
	live := map[string]*member{}
	for _, n := range c.names {
		live[n] = c.start(n, nil)
	}
	c.protected(live, c.names...)
	md := models{}
	c.commitAll(live, md, "one", 1)

	c.kill(live["b"])
	delete(live, "b")
	st := c.protected(live, c.names...)
	require.Equal(t, "a", st.Banks["c"].Backup, "c's bank re-protected onto a or kept there")
	c.holdsExactly(live, md)
	c.commitAll(live, md, "two", 10)

	c.kill(live["c"])
	delete(live, "c")
	a := live["a"]
	waitFor(t, a, "every bank held and committing alone", func(s StableStatus) bool {
		n := 0
		for _, b := range s.Banks {
			if b.Role != RoleBackup && b.Alone {
				n++
			}
		}
		return n == 3
	})
	c.holdsExactly(live, md)
	c.commitAll(live, md, "three", 20)

	live["b"] = c.start("b", nil)
	waitFor(t, live["b"], "the restarted node holds no bank", func(s StableStatus) bool {
		return s.Takeovers == 0 && countRole(s, RoleBackup) == 3 && countPrimaries(s) == 0
	})
	st = c.protected(live, c.names...)
	for _, bank := range c.names {
		require.Equal(t, cluster.BankState{Primary: "a", Backup: "b", Epoch: st.Banks[bank].Epoch}, st.Banks[bank])
	}
	c.commitAll(live, md, "four", 30)
	c.holdsExactly(live, md)
}

func countRole(s StableStatus, role string) int {
	n := 0
	for _, b := range s.Banks {
		if b.Role == role {
			n++
		}
	}
	return n
}

func countPrimaries(s StableStatus) int { return len(s.Banks) - countRole(s, RoleBackup) }

// Reference: re-protection onto any node (Service Fabric's idle secondary:
// copy, catch up, mirror) — the new backup dies at each step of the
// re-protection of bank a: after the group placed it, as the copy
// begins, in the middle of the copy, once the copy is complete but not
// yet recorded, and after it was recorded. Bank a stays correct and
// committing at its primary throughout, and is protected again on the
// one node left.
func TestReprotectionSurvivesTheNewBackupDyingAtEachStep(t *testing.T) {
	for _, step := range []string{FPProtectPlaced, FPAttachBegin, "mid-copy", FPAttachCopied, "recorded"} {
		t.Run(step, func(t *testing.T) { reprotectWithCrashAt(t, step) })
	}
}

func reprotectWithCrashAt(t *testing.T, step string) {
	c := newTestCluster(t, "a", "b", "c", "d")
	live := map[string]*member{}
	var armed atomic.Bool
	var mu sync.Mutex // guards all, which the hook reads
	all, dead := map[string]*member{}, ""
	hit := make(chan string, 1)
	hook := func(point, subject string) error {
		if subject != "a" || !armed.Load() || (point != step && !(step == "mid-copy" && point == FPAttachBegin)) {
			return nil
		}
		target := c.g.Member("a").State().Banks["a"].Target
		mu.Lock()
		m, a := all[target], all["a"]
		mu.Unlock()
		if target == dead || !armed.CompareAndSwap(true, false) {
			return nil // placed before the first death was seen: that copy fails by itself
		}
		if step == "mid-copy" {
			go func() { waitJoining(a.st.Bank("a")); hit <- target }()
			return nil
		}
		hit <- target
		c.kill(m)
		return nil
	}
	for _, n := range c.names {
		m := c.start(n, failpoint.Hook(hook).At)
		live[n] = m
		mu.Lock()
		all[n] = m
		mu.Unlock()
	}
	st := c.protected(live, c.names...)
	md := model{}
	commit(t, live["a"].st.Own(), md, batch{"big", 1, 3})
	bigObjects(t, live["a"].st.Own(), md, 3<<20) // a copy of several chunks

	first := st.Banks["a"].Backup
	mu.Lock()
	dead = first
	mu.Unlock()
	armed.Store(true)
	c.kill(live[first])
	delete(live, first)
	var second string
	if step == "recorded" {
		st = c.protectedBank(live, "a")
		second = st.Banks["a"].Backup
		c.kill(live[second])
	} else {
		second = <-hit
		if step == "mid-copy" {
			c.kill(live[second])
		}
	}
	delete(live, second)
	commitRetrying(t, live["a"].st.Own(), md, batch{"during", 100, 3}) // refused until recorded without backup
	st = c.protectedBank(live, "a")
	require.Equal(t, "a", st.Banks["a"].Primary)
	commit(t, live["a"].st.Own(), md, batch{"after", 200, 3})
	require.Equal(t, md, dump(live["a"].st.Own()))
}

// protectedBank waits until bank is protected among live.
func (c *testCluster) protectedBank(live map[string]*member, bank string) cluster.State {
	return c.protected(live, bank)
}

// waitJoining returns once b is streaming a full copy to a new backup
// (or after a while, if the copy was over before it looked).
func waitJoining(b *stm.Bank) {
	for i := 0; i < 2000 && !b.Stats().Joining; i++ {
		time.Sleep(time.Millisecond)
	}
}

// bigObjects commits objects of 64 KiB until b holds about size bytes.
func bigObjects(t *testing.T, b *stm.Bank, md model, size int) {
	t.Helper()
	v := bytes.Repeat([]byte("x"), 64<<10)
	for i := 0; i*len(v) < size; i++ {
		id := stm.ID(1000 + i)
		require.NoError(t, b.Update(context.Background(), func(tx *stm.Tx) error { return tx.Put(id, v) }))
		md[id] = v
	}
}

// commitRetrying is commit for a bank that may refuse commits for a while
// (stm.ErrNoBackup: its backup just died and the group does not yet record
// it without one): each refused commit is retried, and recorded in md only
// once reported.
func commitRetrying(t *testing.T, b *stm.Bank, md model, w batch) {
	t.Helper()
	for i := w.from; i < w.from+w.n; i++ {
		id, v := stm.ID(i), []byte(fmt.Sprintf("%s-%d", w.tag, i))
		require.Eventually(t, func() bool {
			err := b.Update(context.Background(), func(tx *stm.Tx) error { return tx.Put(id, v) })
			require.True(t, err == nil || errors.Is(err, stm.ErrNoBackup), "commit: %v", err)
			return err == nil
		}, testWait, testTick)
		md[id] = v
	}
}
