package servers

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/stretchr/testify/require"
)

// benchChunk is how many calls run before switching between the reliable
// call and its plain-kernel baseline, so machine load weighs on both alike.
const benchChunk = 16

// plainKV is the baseline: the same call (msgpack request and reply, the
// same handler on the same state) served as a plain kernel RPC.
func plainKV(b *testing.B, w *world) (call func(op Op) error) {
	server, err := w.node.NewTask("plain-server")
	require.NoError(b, err)
	client, err := w.node.NewTask("plain-client")
	require.NoError(b, err)
	svc, _ := server.AllocatePort()
	to, _ := server.InsertRight(client, svc, kernel.MakeSend, kernel.NameNull)
	replyPort, _ := client.AllocatePort()
	go servePlain(server, svc, newCounters())
	pc := &plainClient{task: client, to: to, reply: replyPort}
	return pc.call
}

// servePlain answers the requests on svc until the task is gone.
func servePlain(server *kernel.Task, svc kernel.Name, st counters) {
	ctx := context.Background()
	for {
		m, err := server.Receive(ctx, svc)
		if err != nil {
			return
		}
		req, _ := decodeRequest(m.Body)
		ob, _ := stm.Encode(plainHandle(st, req))
		rb, _ := stm.Encode(reply{Seq: req.Seq, Body: ob})
		r := m.Reply
		m.Dest, m.DestDisp, m.Reply, m.Body = r, kernel.MoveSendOnce, kernel.NameNull, rb
		if server.Send(ctx, m) != nil {
			return
		}
	}
}

// plainHandle is the kv handler on st: add, or get the key's value.
func plainHandle(st counters, req request) int {
	if req.Method == "add" {
		a, _ := decodeAny[addReq](req.Body)
		st.N[a.Key] += a.By
		return st.N[a.Key]
	}
	k, _ := decodeAny[string](req.Body)
	return st.N[k]
}

// plainClient calls the plain server: a send right to it and its own
// reply port.
type plainClient struct {
	task  *kernel.Task
	to    kernel.Name
	reply kernel.Name
	seq   uint64
}

// call makes one plain RPC, an add of 1 to "k" or a get of it.
func (c *plainClient) call(op Op) error {
	ctx := context.Background()
	c.seq++
	m := kernel.NewMessage()
	m.Dest, m.Reply, m.ReplyDisp, m.ID, m.Body = c.to, c.reply, kernel.MakeSendOnce, msgRequest, plainRequest(c.seq, op)
	if err := c.task.Send(ctx, m); err != nil {
		return err
	}
	r, err := c.task.Receive(ctx, c.reply)
	if err != nil {
		return err
	}
	rep, err := decodeAny[reply](r.Body)
	r.Free()
	if err != nil {
		return err
	}
	_, err = decodeAny[int](rep.Body)
	return err
}

// plainRequest encodes request seq: an add of 1 to "k" for an update, a
// get of it otherwise.
func plainRequest(seq uint64, op Op) []byte {
	var body []byte
	req := request{Method: "get", Client: "plain", Seq: seq}
	if op == Update {
		req.Method = "add"
		body, _ = stm.Encode(addReq{Key: "k", By: 1})
	} else {
		body, _ = stm.Encode("k")
	}
	req.Body = body
	rb, _ := stm.Encode(req)
	return rb
}

// BenchmarkReliableRPC: a read and an update call from an application RU
// through the reliable path (write-ahead call record, admission, the
// dependencies of §4.1 saved in STM on both sides, duplicate table),
// against the same call as a plain kernel RPC in the same run (x-kernel,
// target ≤ 1.5). The bank is mirrored to an in-process backup.
func BenchmarkReliableRPC(b *testing.B) {
	for _, op := range []Op{Read, Update} {
		b.Run(op.String(), func(b *testing.B) {
			w := newWorld(b)
			w.serve("s", "kv")
			c := w.client("a", "app")
			plain := plainKV(b, w)
			ctx := context.Background()
			reliable := func() error {
				if op == Update {
					_, err := mAdd("kv").Call(ctx, c, addReq{Key: "k", By: 1})
					return err
				}
				_, err := mGet("kv").Call(ctx, c, "k")
				return err
			}
			var tRel, tPlain time.Duration
			var ratios []float64
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(benchChunk, b.N-done)
				start := time.Now()
				for range n {
					if err := reliable(); err != nil {
						b.Fatal(err)
					}
				}
				rel := time.Since(start)
				start = time.Now()
				for range n {
					if err := plain(op); err != nil {
						b.Fatal(err)
					}
				}
				pl := time.Since(start)
				tRel, tPlain = tRel+rel, tPlain+pl
				ratios = append(ratios, float64(rel)/float64(pl))
				done += n
			}
			b.StopTimer()
			slices.Sort(ratios)
			b.ReportMetric(float64(tRel.Nanoseconds())/float64(b.N), "reliable-ns/call")
			b.ReportMetric(float64(tPlain.Nanoseconds())/float64(b.N), "kernel-ns/call")
			// The median of per-chunk ratios: a load spike on this shared
			// machine spoils a chunk, not the figure.
			b.ReportMetric(ratios[len(ratios)/2], "x-kernel")
			b.ReportMetric(float64(tRel)/float64(tPlain), "x-kernel-total")
		})
	}
}

// touchM is an update that changes nothing but makes its RU modified.
var touchM = NewMethod[int, int]("touch", Update)

// ckpt4RU is the paper's configuration end to end (§6.1, §6.5): one
// application RU on its own driver and three segment RUs (data, stack,
// heap) served by one driver, nothing dirty (the segment calls change no
// data, but make the app and the segments depend on each other as the
// paper's checkpoint does).
type ckpt4RU struct {
	w    *world
	app  *Client
	segs []string
}

// newCkpt4RU builds the configuration; threePhase turns the two-phase
// path of §8.2.1 off.
func newCkpt4RU(tb testing.TB, threePhase bool) *ckpt4RU {
	w := newWorld(tb)
	w.tick = time.Second // no resend timeout inside a checkpoint
	w.unit.ThreePhase = threePhase
	r := &ckpt4RU{w: w, segs: []string{"data", "stack", "heap"}}
	rvm := w.host("rvm")
	for _, s := range r.segs {
		srv := mustServer(NewServer(Config{Name: s, Driver: rvm.driver, Logger: w.log}, newCounters))
		Handle(srv, touchM, func(c *Call, s *counters, _ int) (int, error) { return 0, nil })
		ctx, cancel := context.WithCancel(w.ctx)
		done := make(chan error, 1)
		rvm.cancel[s], rvm.done[s] = cancel, done
		go func() { done <- srv.Run(ctx) }()
		w.waitBound(rvm, s)
	}
	r.app = w.client("app", "app")
	return r
}

// touch makes the app update each segment (the calls' work, not the
// checkpoint's).
func (r *ckpt4RU) touch(tb testing.TB) {
	for _, s := range r.segs {
		if _, err := touchM.At(s).Call(r.w.ctx, r.app, 0); err != nil {
			tb.Fatal(err)
		}
	}
}

// checkpoint runs one checkpoint of the app and waits until the segments
// committed too; it returns the time Client.Checkpoint took and the
// envelopes, protocol messages and STM commits it cost.
func (r *ckpt4RU) checkpoint(tb testing.TB) (d time.Duration, envs, msgs, commits int64) {
	inc := r.w.liveID("rvm", "data").Inc + 1
	e0, m0 := r.w.totals()
	c0 := r.w.bank.Stats().Committed
	start := time.Now()
	if err := r.app.Checkpoint(r.w.ctx); err != nil {
		tb.Fatal(err)
	}
	d = time.Since(start)
	if b, ok := tb.(*testing.B); ok {
		b.StopTimer() // ns/op is the checkpoint's latency, not the settling
	}
	for _, s := range r.segs {
		for r.w.liveID("rvm", s).Inc < inc {
			time.Sleep(10 * time.Microsecond)
		}
	}
	e1, m1 := r.w.stableTotals()
	return d, e1 - e0, m1 - m0, int64(r.w.bank.Stats().Committed - c0)
}

// stableTotals is totals once no driver is still counting a send: a
// sender counts an envelope when Send returned, which may be after the
// receiver acted on it.
func (w *world) stableTotals() (envs, msgs int64) {
	envs, msgs = w.totals()
	for same := 0; same < 3; {
		time.Sleep(200 * time.Microsecond)
		e, m := w.totals()
		if e == envs && m == msgs {
			same++
			continue
		}
		envs, msgs, same = e, m, 0
	}
	return envs, msgs
}

// BenchmarkCheckpoint4RU: the paper's configuration end to end, through
// kernel ports and STM, on the two-phase path of §8.2.1 and, alternated
// in the same run as the baseline, on the general three-phase path.
// msgs/ckpt counts transport messages (envelopes) of both drivers per
// checkpoint (paper 15, its batching proposal 5, target ≤ 3); ns/op is the
// latency of one two-phase checkpoint (Client.Checkpoint to its return).
func BenchmarkCheckpoint4RU(b *testing.B) {
	two, three := newCkpt4RU(b, false), newCkpt4RU(b, true)
	var t2, t3 time.Duration
	var envs, msgs, commits, envs3, msgs3 int64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		two.touch(b)
		three.touch(b)
		b.StartTimer()
		d, e, m, c := two.checkpoint(b) // stops the timer
		d3, e3, m3, _ := three.checkpoint(b)
		t2, t3 = t2+d, t3+d3
		envs, msgs, commits, envs3, msgs3 = envs+e, msgs+m, commits+c, envs3+e3, msgs3+m3
		b.StartTimer()
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(envs)/n, "msgs/ckpt")
	b.ReportMetric(float64(msgs)/n, "ru-msgs/ckpt")
	b.ReportMetric(float64(commits)/n, "stm-tx/ckpt")
	b.ReportMetric(float64(envs3)/n, "msgs-3phase/ckpt")
	b.ReportMetric(float64(msgs3)/n, "ru-msgs-3phase/ckpt")
	b.ReportMetric(float64(t3.Nanoseconds())/n, "ns-3phase/ckpt")
	b.ReportMetric(float64(t2)/float64(t3), "x-3phase")
}

// TestCheckpoint4RUEnvelopes pins the end-to-end counts of the paper's
// configuration: 3 envelopes per checkpoint on the two-phase path of
// §8.2.1, 5 on the general three-phase path (§6.5's batching); 9 and 15
// protocol messages inside them. Reference: §6.5, §8.2.1.
func TestCheckpoint4RUEnvelopes(t *testing.T) {
	for _, c := range []struct {
		threePhase bool
		envs, msgs int64
	}{{false, 3, 9}, {true, 5, 15}} {
		r := newCkpt4RU(t, c.threePhase)
		for range 3 {
			r.touch(t)
			_, envs, msgs, _ := r.checkpoint(t)
			require.Equal(t, c.envs, envs, "three-phase=%v: envelopes per checkpoint", c.threePhase)
			require.Equal(t, c.msgs, msgs, "three-phase=%v: protocol messages per checkpoint", c.threePhase)
		}
	}
}

// totals sums the envelopes and protocol messages every driver sent.
func (w *world) totals() (envs, msgs int64) {
	for _, h := range w.hosts {
		e, m := h.driver.Stats()
		envs, msgs = envs+e, msgs+m
	}
	return envs, msgs
}

var _ = fmt.Sprint
