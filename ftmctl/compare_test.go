package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/node/control"
)

// compareLoop is how many requests the client loop sends to each mode's
// task before the crash.
const compareLoop = 200

// comparePair is a pair of real node processes (the usernode binary) that
// runs the same workload in both recovery modes on each bank: acc, a
// published task, and tally, a checkpointed reliable server. Both add the
// numbers a client sends and answer the sum.
type comparePair struct {
	b        *testing.B
	bin, dir string
	w        workload
}

// workload is one workload as the usernode runs it in each mode: the
// published program and the checkpointed reliable server a client feeds.
// Each answers the count of numbers it was sent (all ones).
type workload struct {
	name      string
	pub, ckpt string
}

// workloads are the three workloads compared: a client loop on one task,
// a pipeline of three tasks (the client feeds the first, the last
// answers), and a long computation (20,000 chained SHA-256 rounds per
// request).
var workloads = []workload{
	{name: "loop", pub: "acc", ckpt: "tally"},
	{name: "pipeline", pub: "pub1", ckpt: "ck1"},
	{name: "computation", pub: "pcrunch", ckpt: "crunch"},
}

func (c *comparePair) cli(node string) *controlClient {
	return newControlClient(c.dir, node).withTimeout(60 * time.Second)
}

func (c *comparePair) ftmctl(args ...string) string {
	c.b.Helper()
	out, err := exec.Command(c.bin, append(args, "--dir", c.dir)...).CombinedOutput()
	if err != nil {
		c.b.Fatalf("ftmctl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// published sends 1 to the published task name through node: the sum it
// answers.
func (c *comparePair) published(ctx context.Context, node, name string) (int64, error) {
	var rep control.PublishSendReply
	if err := c.cli(node).post(ctx, "/publish/send", control.PublishSendRequest{Task: name, Body: "1"}, &rep); err != nil {
		return 0, err
	}
	_, sum, _ := strings.Cut(rep.Reply, " ")
	return strconv.ParseInt(sum, 10, 64)
}

// checkpointed adds 1 to the reliable server name through node: the sum
// it answers (once durable: output commit).
func (c *comparePair) checkpointed(ctx context.Context, node, name string) (int64, error) {
	var rep control.CallReply
	req := control.CallRequest{Server: name, Op: "add", Arg: json.RawMessage("1")}
	if err := c.cli(node).post(ctx, "/call", req, &rep); err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(rep.Result), 10, 64)
}

// mode is one recovery mode's way to send the workload's request.
type mode func(ctx context.Context, node, name string) (int64, error)

// until retries send every 20ms until it succeeds: the time it took.
func until(ctx context.Context, send func() (int64, error)) (int64, time.Duration, error) {
	start := time.Now()
	for {
		v, err := send()
		if err == nil || ctx.Err() != nil {
			return v, time.Since(start), err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// start builds ftmctl and the usernode, starts a pair n1, n2 and waits
// until both modes answer on both banks (the sums are then 1).
func startComparePair(b *testing.B, w workload) *comparePair {
	tmp := b.TempDir()
	c := &comparePair{b: b, bin: filepath.Join(tmp, "ftmctl"), dir: filepath.Join(tmp, "pair"), w: w}
	for _, build := range [][]string{{"-o", c.bin, "."}, {"-o", filepath.Join(tmp, "usernode"), "./testdata/usernode"}} {
		if out, err := exec.Command("go", append([]string{"build"}, build...)...).CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
	}
	c.ftmctl("pair", "up", "--exec", filepath.Join(tmp, "usernode"), "--allow-faults", "--nodes", "n1,n2")
	b.Cleanup(func() { _, _ = exec.Command(c.bin, "pair", "down", "--dir", c.dir, "--grace", "1s").CombinedOutput() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, bank := range []string{"n1", "n2"} {
		for _, w := range []struct {
			send    mode
			program string
		}{{c.published, w.pub}, {c.checkpointed, w.ckpt}} {
			if _, _, err := until(ctx, func() (int64, error) { return w.send(ctx, bank, bank+"/"+w.program) }); err != nil {
				b.Fatalf("%s/%s does not answer: %v", bank, w.program, err)
			}
		}
	}
	return c
}

// figures are one mode's measures over a run.
type figures struct {
	loop      time.Duration // the client loop's total time
	recovery  time.Duration // from the SIGKILL to the first answer of the recovered task
	lost      int64         // acknowledged requests missing from the recovered sum
	otherWait time.Duration // a request to the survivor's own task, sent at the SIGKILL
	otherLost int64         // acknowledged requests missing from the survivor's task
	replayed  uint64        // messages the recoveries replayed (published)
	incs      int           // incarnations of the recovered task (published)
	logMax    int           // the largest log seen during the loop, bytes (published)
}

// BenchmarkCompareModes runs the same workloads in both recovery modes,
// each in a fresh pair of real node processes (the usernode): a client
// loop feeds a published task and a checkpointed reliable server on bank
// n1 (through n1's control socket, one request at a time), then n1 is
// killed with SIGKILL. Figures per mode: the time per request of the loop
// (pub-ms/op, ckpt-ms/op; x-ckpt is published over checkpointed), the
// time from the SIGKILL to the first answer of the recovered task on n2
// (the death's detection, the takeover, n1 restarted as the backup both
// modes wait for, and the replay), the acknowledged requests lost, and
// how long a request to the survivor's own task of the same program
// (n2/...) sent at the SIGKILL waited. For the published task: the log's
// largest size seen during the loop and its log and checkpoint sizes
// after it, the messages its recoveries replayed and its incarnations
// (a recovered task whose bank refuses commits crashes at each message it
// cannot record and replays its log again, every 10ms).
func BenchmarkCompareModes(b *testing.B) {
	if testing.Short() {
		b.Skip("starts processes")
	}
	for _, w := range workloads {
		b.Run("workload="+w.name, func(b *testing.B) { benchCompare(b, w) })
	}
}

func benchCompare(b *testing.B, w workload) {
	var pub, ckpt figures
	var logB, ckptB int
	for range b.N {
		b.StopTimer()
		c := startComparePair(b, w)
		p, k, l, cb := c.run()
		pub.add(p)
		ckpt.add(k)
		logB, ckptB = logB+l, ckptB+cb
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n }
	b.ReportMetric(ms(pub.loop)/compareLoop, "pub-ms/op")
	b.ReportMetric(ms(ckpt.loop)/compareLoop, "ckpt-ms/op")
	b.ReportMetric(float64(pub.loop)/float64(ckpt.loop), "x-ckpt")
	b.ReportMetric(ms(pub.recovery), "pub-recovery-ms")
	b.ReportMetric(ms(ckpt.recovery), "ckpt-recovery-ms")
	b.ReportMetric(float64(pub.lost+pub.otherLost)/n, "pub-lost")
	b.ReportMetric(float64(ckpt.lost+ckpt.otherLost)/n, "ckpt-lost")
	b.ReportMetric(ms(pub.otherWait), "pub-other-wait-ms")
	b.ReportMetric(ms(ckpt.otherWait), "ckpt-other-wait-ms")
	b.ReportMetric(float64(pub.replayed)/n, "pub-replayed")
	b.ReportMetric(float64(pub.incs)/n, "pub-incarnations")
	b.ReportMetric(float64(pub.logMax)/n, "pub-log-max-B")
	b.ReportMetric(float64(logB)/n, "pub-log-B")
	b.ReportMetric(float64(ckptB)/n, "pub-ckpt-B")
}

func (f *figures) add(g figures) {
	f.loop += g.loop
	f.recovery += g.recovery
	f.lost += g.lost
	f.otherWait += g.otherWait
	f.otherLost += g.otherLost
	f.replayed += g.replayed
	f.incs += g.incs
	f.logMax += g.logMax
}

// run is one run of the workload: the client loop, then the SIGKILL of n1
// and the recovery of both modes' tasks of bank n1 on n2.
func (c *comparePair) run() (pub, ckpt figures, logB, ckptB int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pub.loop, pub.logMax = c.loop(ctx, c.published, "n1/"+c.w.pub)
	ckpt.loop, _ = c.loop(ctx, c.checkpointed, "n1/"+c.w.ckpt)
	var rows []control.PublishedTask
	if err := c.cli("n1").get(ctx, "/publish", &rows); err != nil {
		c.b.Fatal(err)
	}
	for _, r := range rows {
		if r.Name == "n1/"+c.w.pub {
			logB, ckptB = r.LogBytes, r.CkptBytes
		}
	}
	c.ftmctl("crash", "n1")
	killed := time.Now()
	var wg sync.WaitGroup
	wg.Add(4)
	go c.recover(ctx, &wg, killed, c.published, &pub, "n1/"+c.w.pub)
	go c.recover(ctx, &wg, killed, c.checkpointed, &ckpt, "n1/"+c.w.ckpt)
	go c.other(ctx, &wg, killed, c.published, &pub, "n2/"+c.w.pub)
	go c.other(ctx, &wg, killed, c.checkpointed, &ckpt, "n2/"+c.w.ckpt)
	c.restartWhenTakenOver(ctx)
	wg.Wait()
	if err := c.cli("n2").get(ctx, "/publish", &rows); err != nil {
		c.b.Fatal(err)
	}
	for _, r := range rows {
		if r.Name == "n1/"+c.w.pub {
			pub.replayed, pub.incs = r.Replayed, r.Incarnations
		}
	}
	return pub, ckpt, logB, ckptB
}

// loop sends compareLoop requests to name on n1 and checks each sum;
// every 10 requests, untimed, it reads the published task's log size:
// the largest it saw.
func (c *comparePair) loop(ctx context.Context, send mode, name string) (took time.Duration, logMax int) {
	for i := int64(2); i <= compareLoop+1; i++ {
		c.b.StartTimer()
		start := time.Now()
		sum, err := send(ctx, "n1", name)
		took += time.Since(start)
		c.b.StopTimer()
		if err != nil || sum != i {
			c.b.Fatalf("%s: request %d: sum %d, %v", name, i, sum, err)
		}
		if i%10 == 0 {
			logMax = max(logMax, c.logBytes(ctx, name))
		}
	}
	return took, logMax
}

// logBytes is the log size of the published task name on n1 (0 for
// another task).
func (c *comparePair) logBytes(ctx context.Context, name string) int {
	var rows []control.PublishedTask
	if err := c.cli("n1").get(ctx, "/publish", &rows); err != nil {
		c.b.Fatal(err)
	}
	for _, r := range rows {
		if r.Name == name {
			return r.LogBytes
		}
	}
	return 0
}

// restartWhenTakenOver restarts n1 (the same binary) once n2 has taken
// its bank over: the taken-over bank has a backup again.
func (c *comparePair) restartWhenTakenOver(ctx context.Context) {
	for ctx.Err() == nil {
		var st control.Status
		if err := c.cli("n2").get(ctx, "/status", &st); err == nil && st.STM != nil && st.STM.Takeovers == 1 {
			c.ftmctl("pair", "up")
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// recover times the first answer of name's task recovered on n2, and
// counts the acknowledged requests its sum misses.
func (c *comparePair) recover(ctx context.Context, wg *sync.WaitGroup, killed time.Time, send mode, f *figures, name string) {
	defer wg.Done()
	sum, _, err := until(ctx, func() (int64, error) { return send(ctx, "n2", name) })
	if err != nil {
		c.b.Errorf("%s not recovered: %v", name, err)
		return
	}
	f.recovery = time.Since(killed)
	f.lost = compareLoop + 2 - sum
}

// other times a request to the survivor's own task name sent at the
// SIGKILL (its bank also loses its backup with n1).
func (c *comparePair) other(ctx context.Context, wg *sync.WaitGroup, killed time.Time, send mode, f *figures, name string) {
	defer wg.Done()
	sum, _, err := until(ctx, func() (int64, error) { return send(ctx, "n2", name) })
	if err != nil {
		c.b.Errorf("%s: %v", name, err)
		return
	}
	f.otherWait = time.Since(killed)
	f.otherLost = 2 - sum
}
