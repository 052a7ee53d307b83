package ru

import (
	"fmt"
	"testing"
)

// crashRig is the 4-RU configuration with a failpoint that fires once, at
// the n-th flush of one unit, at one named point.
type crashRig struct {
	*ckptRig
	flushes int
	fired   bool
	down    string
	units   []string // every unit of the rig
}

// crashMode is the path a crashRig's checkpoint takes.
type crashMode struct {
	threePhase bool // the two-phase path of §8.2.1 off
	// chase adds client x on the app's host, which updated heap: heap has
	// a predecessor to chase, answers the two-phase build three-phase and
	// the app falls back to the general path.
	chase bool
}

func newCrashRig(unit, point string, n int, mode crashMode) *crashRig {
	c := &crashRig{units: []string{"app", "data", "stack", "heap"}}
	store := NewMemStore()
	r := &ckptRig{hosts: map[string]*Host{}, segs: []string{"data", "stack", "heap"},
		hostOf: map[string]string{"app": "app", "data": "rvm", "stack": "rvm", "heap": "rvm"}}
	fail := func(p, u string) bool {
		if u != unit || c.fired {
			return false
		}
		if p == FPBeforePersist {
			c.flushes++
		}
		if p == point && c.flushes == n {
			c.fired, c.down = true, u
			return true
		}
		return false
	}
	for _, h := range []string{"app", "rvm"} {
		r.hosts[h] = NewHost(HostConfig{Name: h, Store: store, Batch: true, Unit: Config{ThreePhase: mode.threePhase},
			HostOf: func(u string) string { return r.hostOf[u] }})
	}
	r.store, r.fail = store, fail
	r.app = r.hosts["app"].Add("app", false)
	for _, s := range r.segs {
		r.hosts["rvm"].Add(s, false)
	}
	c.ckptRig = r
	if mode.chase {
		r.hostOf["x"] = "app"
		c.units = append(c.units, "x")
		c.chaseFromHeap()
	}
	return c
}

// chaseFromHeap adds client x and its update of heap (both directions),
// persisted as the call path does.
func (c *crashRig) chaseFromHeap() {
	x, heap := c.hosts["app"].Add("x", false), c.hosts["rvm"].Unit("heap")
	x.AddPred(heap.ID())
	x.AddSucc(heap.ID())
	heap.AddPred(x.ID())
	heap.AddSucc(x.ID())
	c.hosts["rvm"].Touch("heap")
	for _, h := range []string{"app", "rvm"} {
		envs, _ := execute(c.hosts[h], c.store, nil)
		c.net = append(c.net, envs...)
	}
}

// run starts one checkpoint and drives the rig (restarting the crashed
// unit, ticking for resends) until every unit is idle or the bound is hit.
func (c *crashRig) run() error {
	c.touchSegments()
	c.app.Checkpoint()
	c.hosts["app"].Touch("app")
	for step := 0; step < 2000; step++ {
		c.flush()
		if c.down != "" {
			if _, err := c.hosts[c.hostOf[c.down]].Restart(c.down, false); err != nil {
				return err
			}
			c.down = ""
			continue
		}
		if len(c.net) > 0 {
			env := c.net[0]
			c.net = c.net[1:]
			c.hosts[env.To].Deliver(env)
			continue
		}
		if c.idle() {
			return nil
		}
		for _, h := range c.hosts {
			h.Tick()
		}
	}
	return fmt.Errorf("not idle after 2000 steps")
}

func (c *crashRig) idle() bool {
	for _, n := range c.units {
		u := c.hosts[c.hostOf[n]].Unit(n)
		if u == nil || u.Phase() != Running || u.State().Want || len(u.State().AbortWait) > 0 {
			return false
		}
	}
	return true
}

// outcomes returns how incarnation 1 of every unit ended.
func (c *crashRig) outcomes() map[string]Outcome {
	out := map[string]Outcome{}
	for _, n := range c.units {
		u := c.hosts[c.hostOf[n]].Unit(n)
		out[n] = Pending
		if u.ID().Inc > 1 {
			out[n] = u.State().outcome(1)
		}
	}
	return out
}

// TestCrashAtEveryStep4RU crashes each unit of the 4-RU configuration at
// each failpoint of each of its protocol steps, restarts it, and checks
// that the four mutually dependent RUs all committed or all aborted, and
// that the protocol ended; on the general three-phase path and on the
// two-phase path of §8.2.1. Reference: §4.2.4, §8.2.1.
func TestCrashAtEveryStep4RU(t *testing.T) {
	for name, mode := range map[string]crashMode{"three-phase": {threePhase: true},
		"two-phase": {}, "two-phase-fallback": {chase: true}} {
		t.Run(name, func(t *testing.T) { crashAtEveryStep(t, mode) })
	}
}

func crashAtEveryStep(t *testing.T, mode crashMode) {
	cases := 0
	ended := map[Outcome]int{}
	units := []string{"app", "data", "stack", "heap"}
	if mode.chase {
		units = append(units, "x")
		if c := newCrashRig("", "", 0, mode); c.run() != nil || c.app.State().Seq != 2 {
			t.Fatalf("with no crash the app did not commit on its second attempt (two-phase, then three-phase): seq %d", c.app.State().Seq)
		}
	}
	for _, unit := range units {
		for _, point := range []string{FPBeforePersist, FPAfterPersist} {
			for n := 1; n <= 10; n++ {
				c := newCrashRig(unit, point, n, mode)
				if err := c.run(); err != nil {
					t.Fatalf("crash %s at %s #%d: %v", unit, point, n, err)
				}
				if !c.fired {
					continue
				}
				cases++
				got := c.outcomes()
				ended[got["app"]]++
				for _, o := range got {
					if o != got["app"] || o == Pending {
						t.Fatalf("crash %s at %s #%d: outcomes %v, want all committed or all aborted", unit, point, n, got)
					}
				}
			}
		}
	}
	if cases < 16 || ended[Committed] == 0 || ended[Aborted] == 0 {
		t.Fatalf("only %d crash points fired, outcomes %v: the test exercises too little", cases, ended)
	}
	t.Logf("%d crash points, outcomes %v", cases, ended)
}
