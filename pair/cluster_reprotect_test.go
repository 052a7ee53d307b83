package pair

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/cluster"
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

// Reference: paper §2.1, §3.3.2; ISSUE 19's re-protection onto any node —
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

var _ = stm.ID(0)
