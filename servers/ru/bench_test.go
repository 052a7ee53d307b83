package ru

import (
	"testing"
	"time"
)

// ckptRig is the paper's test configuration (§6.1): an application RU on
// its own host and three segment RUs (data, stack, heap) served by one RVM
// server host.
type ckptRig struct {
	hosts  map[string]*Host
	store  *MemStore // the records, written by execute
	fail   failFunc  // crash points (crashRig)
	net    []Envelope
	envs   int // transport messages (envelopes)
	msgs   int // protocol messages inside them
	segs   []string
	app    *Unit
	hostOf map[string]string
}

// newCkptRig builds the rig; threePhase turns the two-phase path of
// §8.2.1 off.
func newCkptRig(batch, threePhase bool) *ckptRig {
	r := &ckptRig{hosts: map[string]*Host{}, segs: []string{"data", "stack", "heap"},
		hostOf: map[string]string{"app": "app", "data": "rvm", "stack": "rvm", "heap": "rvm"}}
	store := NewMemStore()
	for _, h := range []string{"app", "rvm"} {
		r.hosts[h] = NewHost(HostConfig{Name: h, Store: store, Batch: batch, Unit: Config{ThreePhase: threePhase},
			HostOf: func(u string) string { return r.hostOf[u] }})
	}
	r.store = store
	r.app = r.hosts["app"].Add("app", false)
	for _, s := range r.segs {
		r.hosts["rvm"].Add(s, false)
	}
	return r
}

// touchSegments records the dependencies of the app's update calls on its
// segments, both directions (the paper's checkpoint always involves the
// three segment RUs), persisted as the call path does before returning.
func (r *ckptRig) touchSegments() {
	for _, s := range r.segs {
		seg := r.hosts["rvm"].Unit(s)
		r.app.AddPred(seg.ID())
		r.app.AddSucc(seg.ID())
		seg.AddSucc(r.app.ID())
		seg.AddPred(r.app.ID())
		r.hosts["rvm"].Touch(s)
	}
	r.hosts["app"].Touch("app")
	for _, h := range []string{"app", "rvm"} { // write-ahead: never at a crash point
		envs, _ := execute(r.hosts[h], r.store, nil)
		r.net = append(r.net, envs...)
	}
}

func (r *ckptRig) flush() {
	for _, h := range []string{"app", "rvm"} {
		envs, _ := execute(r.hosts[h], r.store, r.fail)
		r.net = append(r.net, envs...)
	}
}

// checkpoint runs one checkpoint to completion and reports whether it committed.
func (r *ckptRig) checkpoint() bool {
	inc := r.app.ID().Inc
	r.app.Checkpoint()
	r.hosts["app"].Touch("app")
	r.flush()
	for len(r.net) > 0 {
		env := r.net[0]
		r.net = r.net[1:]
		r.envs++
		r.msgs += len(env.Msgs)
		r.hosts[env.To].Deliver(env)
		r.flush()
	}
	return r.app.ID().Inc == inc+1
}

// BenchmarkCheckpoint4RU measures the pure protocol for the paper's 4-RU
// configuration with nothing dirty: transport messages per checkpoint on
// the two-phase path of §8.2.1 with batching (§6.5) — the paper had 15,
// its batching proposal 5, target ≤ 3 — with, measured in the same run as
// baselines, the general three-phase path batched and unbatched, and the
// latency of the pure machines on both paths (ns/op is the two-phase one).
// Reference: §6.1, §6.5, §8.2.1.
func BenchmarkCheckpoint4RU(b *testing.B) {
	unbatched := newCkptRig(false, true)
	unbatched.touchSegments()
	if !unbatched.checkpoint() {
		b.Fatal("baseline checkpoint did not commit")
	}
	two, three := newCkptRig(true, false), newCkptRig(true, true)
	var tTwo, tThree time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		two.touchSegments() // the calls' work, not the checkpoint's
		three.touchSegments()
		b.StartTimer()
		start := time.Now()
		if !two.checkpoint() {
			b.Fatal("checkpoint did not commit")
		}
		d := time.Since(start)
		b.StopTimer()
		start = time.Now()
		if !three.checkpoint() {
			b.Fatal("three-phase checkpoint did not commit")
		}
		tTwo, tThree = tTwo+d, tThree+time.Since(start)
		b.StartTimer()
	}
	b.StopTimer()
	perCkpt := float64(two.envs) / float64(b.N)
	b.ReportMetric(perCkpt, "msgs/ckpt")
	b.ReportMetric(float64(two.msgs)/float64(b.N), "protomsgs/ckpt")
	b.ReportMetric(float64(three.envs)/float64(b.N), "msgs-3phase/ckpt")
	b.ReportMetric(float64(unbatched.envs), "msgs-unbatched/ckpt")
	b.ReportMetric(float64(tThree.Nanoseconds())/float64(b.N), "ns-3phase/ckpt")
	b.ReportMetric(float64(tTwo)/float64(tThree), "x-3phase")
}

// TestCheckpoint4RUMessageCount pins the counts the benchmark reports: on
// the general three-phase path 15 transport messages without batching
// (the paper's figure) and 5 with it (§6.5's proposal); on the two-phase
// path of §8.2.1, 9 and 3. Reference: §6.1, §6.5, §8.2.1.
func TestCheckpoint4RUMessageCount(t *testing.T) {
	for _, c := range []struct {
		batch, threePhase bool
		want              int
	}{{false, true, 15}, {true, true, 5}, {false, false, 9}, {true, false, 3}} {
		r := newCkptRig(c.batch, c.threePhase)
		r.touchSegments()
		if !r.checkpoint() {
			t.Fatalf("batch=%v three-phase=%v: checkpoint did not commit", c.batch, c.threePhase)
		}
		if r.envs != c.want {
			t.Errorf("batch=%v three-phase=%v: %d messages per checkpoint, want %d", c.batch, c.threePhase, r.envs, c.want)
		}
		for _, s := range r.segs {
			if got := r.hosts["rvm"].Unit(s).ID().Inc; got != 2 {
				t.Errorf("segment %s at incarnation %d after the checkpoint, want 2", s, got)
			}
		}
	}
}
