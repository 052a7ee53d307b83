package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"time"

	"github.com/ftm-in-go/ftm/internal/failpoint"
	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
)

// The kill loop of `make soak`: each run starts a fresh pair
// (two processes of the default node binary, ftmnode), runs the prime computation as a stable task
// on alpha, kills a node with SIGKILL at a chosen moment, and checks that
// the task ends once, with the prime a plain computation gives. The
// moments, in turn:
//
//   - random: alpha at a random moment after its first checkpoint;
//   - checkpoint: alpha in the middle of a checkpoint, at a failpoint
//     (FTM_FAILPOINTS, package failpoint) before the commit, after its
//     validation, after the backup applied it, or after the
//     acknowledgement;
//   - backup-checkpoint: beta, the backup, as a checkpoint reaches it;
//     alpha runs on unprotected, beta is restarted and re-protects it;
//   - takeover: alpha, then alpha again once restarted, while beta is
//     still taking alpha's bank over (a failpoint stalls beta's takeover
//     so the second kill lands inside it);
//   - second-failure: alpha; beta takes over; alpha is restarted, rejoins
//     as the backup of both banks and receives their state; then beta is
//     killed and alpha finishes the task;
//   - reprotect: alpha; beta takes over; alpha is restarted and killed
//     again while beta is still copying its banks to it (a failpoint stalls
//     one copy), then restarted once more and re-protects both banks;
//   - partition: no kill; the link is cut (ftmctl partition) long enough
//     for both nodes to take each other's bank over, so the task runs on
//     both; after the relink the higher epoch wins, alpha's stale copy is
//     stopped, and the task ends once, on beta (fencing).

// soakHeartbeat is the pairs' heartbeat period: dead after 20 silent
// periods, 2 s, so a machine loaded by other work does not stall a node
// into a false death (a SIGKILLed node is noticed at once anyway: its link
// breaks). The partition lasts longer than that.
const (
	soakHeartbeat = 100 * time.Millisecond
	soakPartition = 3 * time.Second
)

// scenario is one kind of run.
type scenario struct {
	name  string
	run   func(r *soakRun) error
	group bool // the pair runs with its witness (soak_group.go); otherwise without
	size  int  // the sieve finds size × -soak-n primes
}

// soakRun is one run's pair and expectations.
type soakRun struct {
	demo
	n    int
	want string // "prime N is P", from a plain computation
	rng  *rand.Rand
	note string // what the run did, for the log line

	acked, unsure int  // kv updates the group scenarios' client loop sent
	tookOver      bool // an isolation ended with the majority taking the isolated node's bank over
}

var scenarios = []scenario{
	{name: "random", run: (*soakRun).randomKill, size: 1},
	{name: "checkpoint", run: (*soakRun).killInCheckpoint, size: 1},
	{name: "backup-checkpoint", run: (*soakRun).killBackupInCheckpoint, size: 1},
	{name: "takeover", run: (*soakRun).killDuringTakeover, size: 1},
	{name: "second-failure", run: (*soakRun).secondFailure, size: 2},
	{name: "partition", run: (*soakRun).partition, size: 3},
	{name: "reprotect", run: (*soakRun).killDuringReprotection, size: 1},
}

// checkpointPoints are where alpha dies during a checkpoint, and the
// range of hits to die at (stm points count every commit of alpha's banks:
// the task's record is the first).
var checkpointPoints = []struct {
	point    string
	min, max int
}{
	{task.FPCheckpointSave, 1, 4},
	{stm.FPValidated, 2, 5},
	{stm.FPPhase1Shipped, 2, 5},
	{task.FPCheckpointSaved, 1, 4},
}

// soakOnce plays one scenario on a fresh pair whose nodes start with env;
// its logs stay when it fails. The pair runs without a witness unless the
// scenario is a group one: those scenarios check the pair's own takeover
// and fencing (a partition makes both sides take over), which the group's
// lease would not allow.
func soakOnce(bin string, sc scenario, r *soakRun, env []string) (string, error) {
	args := []string{"--heartbeat", soakHeartbeat.String()}
	if !sc.group {
		args = append(args, "--no-witness")
	}
	d, cleanup, err := startPair(bin, env, args, reporter{})
	if err != nil {
		return "", err
	}
	r.demo = d
	keep := true
	defer func() { cleanup(keep) }()
	if err := sc.run(r); err != nil {
		return "", fmt.Errorf("%w (logs in %s)", err, d.dir)
	}
	keep = false
	return r.note, nil
}

// envFor arms the failpoints of a scenario (the nodes inherit ftmctl's
// environment).
func (r *soakRun) envFor(name string) []string {
	switch name {
	case "checkpoint":
		p := checkpointPoints[r.rng.IntN(len(checkpointPoints))]
		k := p.min + r.rng.IntN(p.max-p.min+1)
		r.note = fmt.Sprintf("alpha killed at %s, hit %d", p.point, k)
		return []string{fmt.Sprintf("%s=alpha:%s=kill@%d", failpoint.EnvVar, p.point, k)}
	case "backup-checkpoint":
		k := 2 + r.rng.IntN(4)
		r.note = fmt.Sprintf("beta killed at %s, hit %d", stm.FPBackupPrepareReceived, k)
		return []string{fmt.Sprintf("%s=beta:%s=kill@%d", failpoint.EnvVar, stm.FPBackupPrepareReceived, k)}
	case "takeover":
		return []string{fmt.Sprintf("%s=beta:%s=sleep(600ms)", failpoint.EnvVar, pair.FPTakeoverTaken)}
	case "reprotect": // beta's first attach after alpha's restart stalls
		return []string{fmt.Sprintf("%s=beta:%s=sleep(500ms)@2", failpoint.EnvVar, pair.FPAttachBegin)}
	}
	return nil
}

// startTask starts the computation on alpha once the pair accepts it.
func (r *soakRun) startTask() error {
	return retry(10*time.Second, func() error { _, err := r.ftmctl("run", "primes", fmt.Sprint(r.n)); return err })
}

func (r *soakRun) checkpointed(min int) error {
	_, err := r.waitFor(fmt.Sprintf("%d checkpoints", min), 60*time.Second, func(rows []taskRow) bool {
		return len(rows) == 1 && (rows[0].Stats.Checkpoints >= min || rows[0].State != "running")
	})
	return err
}

// finish waits for the task to end and checks it ended once, on node,
// after restarts restarts (unless negative), with the right prime.
func (r *soakRun) finish(node string, restarts int) error {
	rows, err := r.waitFor("the task ends, listed once", 120*time.Second, func(rows []taskRow) bool {
		return len(rows) == 1 && rows[0].State != "running"
	})
	if err != nil {
		return err
	}
	t := rows[0]
	switch {
	case t.State != "done" || t.Result != r.want:
		return fmt.Errorf("%w: task ended %s with %q, want %q", errWrong, t.State, t.Result, r.want)
	case t.Node != node || (restarts >= 0 && t.Restarts != restarts):
		return fmt.Errorf("task ended on %s after %d restarts, want %s after %d", t.Node, t.Restarts, node, restarts)
	}
	return nil
}

// nodeStatus is the part of `ftmctl status -o json` the soak reads.
type nodeStatus struct {
	Node    string `json:"node"`
	Running bool   `json:"running"`
	Status  *struct {
		Linked bool               `json:"linked"`
		STM    *pair.StableStatus `json:"stm"`
		Group  *groupStatus       `json:"group"`
	} `json:"status"`
}

func (r *soakRun) status() (map[string]nodeStatus, error) {
	out, err := exec.Command(r.bin, "status", "-o", "json", "--dir", r.dir).Output()
	if err != nil && len(out) == 0 {
		return nil, err
	}
	var rows []nodeStatus
	if err := json.Unmarshal(out, &rows); err != nil {
		return nil, err
	}
	m := map[string]nodeStatus{}
	for _, row := range rows {
		m[row.Node] = row
	}
	return m, nil
}

// waitStatus polls the pair's status until ok holds.
func (r *soakRun) waitStatus(what string, ok func(map[string]nodeStatus) bool) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := r.status(); err == nil && ok(st) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, _ := r.status()
	return fmt.Errorf("timed out waiting until %s (last status %+v)", what, st)
}

// restart starts node again (ftmctl pair up) and waits until it links to
// its partner. A restarted node can fail to bind its address (the partner's
// redials hold it for an instant: "address already in use"); then it is
// started again.
func (r *soakRun) restart(node string) error { return r.startAgain(node, true) }

// startAgain is restart; unless link, it returns once node runs.
func (r *soakRun) startAgain(node string, link bool) error {
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		if _, err := r.ftmctl("pair", "up"); err != nil {
			return err
		}
		last = nil
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			st, err := r.status()
			if err == nil && !st[node].Running {
				last = fmt.Errorf("%s exited at once after its restart", node)
				break
			}
			if err == nil && (!link || (st[node].Status != nil && st[node].Status.Linked)) {
				return nil
			}
		}
		if last == nil {
			return fmt.Errorf("%s restarted but did not link", node)
		}
	}
	return last
}

// crash kills node with SIGKILL (ftmctl crash) and waits until it is gone,
// so a `pair up` that follows restarts it.
func (r *soakRun) crash(node string) error {
	if rows, err := r.ps(); err == nil && (len(rows) != 1 || rows[0].State != "running") {
		return fmt.Errorf("the task was not running when %s was to be killed (%+v): raise -soak-n", node, rows)
	}
	return r.kill(node)
}

// kill is crash whatever the task does.
func (r *soakRun) kill(node string) error {
	if _, err := r.ftmctl("crash", node); err != nil {
		return err
	}
	return r.waitStatus(node+" is gone", dead(node))
}

func dead(node string) func(map[string]nodeStatus) bool {
	return func(st map[string]nodeStatus) bool { return !st[node].Running }
}

// banks returns a node's banks as name → role/mirror (or role/ready).
func banks(st map[string]nodeStatus, node string) map[string]string {
	out := map[string]string{}
	s := st[node]
	if !s.Running || s.Status == nil || s.Status.STM == nil {
		return out
	}
	for _, b := range s.Status.STM.Banks {
		v := b.Mirror
		if b.Role == pair.RoleBackup {
			v = fmt.Sprint(b.Ready)
		}
		out[b.Name] = b.Role + "/" + v
	}
	return out
}

// protectedBy says survivor holds both banks attached and backup holds a
// ready copy of each: the pair is re-protected.
func protectedBy(survivor, backup string) func(map[string]nodeStatus) bool {
	return func(st map[string]nodeStatus) bool {
		s, b := banks(st, survivor), banks(st, backup)
		for _, name := range []string{"alpha", "beta"} {
			if !strings.HasSuffix(s[name], "/"+pair.MirrorAttached) || b[name] != pair.RoleBackup+"/true" {
				return false
			}
		}
		return true
	}
}

func (r *soakRun) randomKill() error {
	if err := r.startTask(); err != nil {
		return err
	}
	if err := r.checkpointed(1); err != nil {
		return err
	}
	pause := time.Duration(r.rng.Int64N(int64(200 * time.Millisecond)))
	time.Sleep(pause)
	if err := r.crash("alpha"); err != nil {
		return err
	}
	r.note = fmt.Sprintf("alpha killed %v after its first checkpoint", pause.Round(time.Millisecond))
	return r.finish("beta", 1)
}

func (r *soakRun) killInCheckpoint() error {
	if err := r.startTask(); err != nil {
		return err
	}
	if err := r.waitStatus("alpha killed itself during a checkpoint", dead("alpha")); err != nil {
		return err
	}
	return r.finish("beta", 1)
}

func (r *soakRun) killBackupInCheckpoint() error {
	if err := r.startTask(); err != nil {
		return err
	}
	if err := r.waitStatus("beta killed itself as a checkpoint reached it", dead("beta")); err != nil {
		return err
	}
	r.env = nil // beta comes back without failpoints
	if err := r.restart("beta"); err != nil {
		return err
	}
	if err := r.waitStatus("beta back as the backup of alpha's bank", protectedOwn); err != nil {
		return err
	}
	return r.finish("alpha", 0)
}

// protectedOwn: each node holds its own bank and the other's backup.
func protectedOwn(st map[string]nodeStatus) bool {
	a, b := banks(st, "alpha"), banks(st, "beta")
	return a["alpha"] == pair.RoleOwn+"/"+pair.MirrorAttached && b["alpha"] == pair.RoleBackup+"/true"
}

func (r *soakRun) killDuringTakeover() error {
	if err := r.startTask(); err != nil {
		return err
	}
	if err := r.checkpointed(1); err != nil {
		return err
	}
	if err := r.crash("alpha"); err != nil {
		return err
	}
	if err := r.startAgain("alpha", false); err != nil { // while beta takes over
		return err
	}
	return r.killAlphaAgain(150*time.Millisecond, "inside beta's takeover", "after beta's takeover",
		func(st map[string]nodeStatus) bool {
			return st["beta"].Status != nil && st["beta"].Status.STM != nil && st["beta"].Status.STM.Takeovers == 0
		})
}

// killAlphaAgain kills the restarted alpha again within max, checks that
// the kill landed while inside(status) held (a failpoint stall keeps that
// window open), then restarts alpha and lets beta finish the task with
// alpha back as the backup of both banks.
func (r *soakRun) killAlphaAgain(max time.Duration, while, after string, inside func(map[string]nodeStatus) bool) error {
	time.Sleep(time.Duration(r.rng.Int64N(int64(max))))
	st, err := r.status()
	if err != nil {
		return err
	}
	in := inside(st)
	if err := r.kill("alpha"); err != nil {
		return err
	}
	r.note = fmt.Sprintf("restarted alpha killed again %s: %v", while, in)
	if !in {
		return fmt.Errorf("the second kill came %s (the failpoint's stall did not hold it)", after)
	}
	if err := r.restart("alpha"); err != nil {
		return err
	}
	if err := r.finish("beta", 1); err != nil {
		return err
	}
	return r.waitStatus("alpha back as the backup of both banks", protectedBy("beta", "alpha"))
}

func (r *soakRun) secondFailure() error {
	if err := r.startTask(); err != nil {
		return err
	}
	if err := r.checkpointed(1); err != nil {
		return err
	}
	time.Sleep(time.Duration(r.rng.Int64N(int64(100 * time.Millisecond))))
	if err := r.crash("alpha"); err != nil {
		return err
	}
	if _, err := r.waitFor("beta resumes the task", 30*time.Second, func(rows []taskRow) bool {
		return len(rows) == 1 && rows[0].Node == "beta"
	}); err != nil {
		return err
	}
	t0 := time.Now()
	if err := r.restart("alpha"); err != nil {
		return err
	}
	if err := r.waitStatus("alpha rejoined as the backup of both banks", protectedBy("beta", "alpha")); err != nil {
		return err
	}
	reprotect := time.Since(t0)
	rows, err := r.ps()
	if err != nil {
		return err
	}
	if len(rows) != 1 || rows[0].State != "running" {
		return fmt.Errorf("the task ended before the second failure (%+v): raise -soak-n", rows)
	}
	time.Sleep(time.Duration(r.rng.Int64N(int64(100 * time.Millisecond))))
	if err := r.crash("beta"); err != nil {
		return err
	}
	r.note = fmt.Sprintf("re-protected %v after alpha's restart, then beta killed", reprotect.Round(time.Millisecond))
	return r.finish("alpha", -1) // the restart count is not persisted without a backup
}

func (r *soakRun) partition() error {
	if err := r.startTask(); err != nil {
		return err
	}
	if err := r.checkpointed(1); err != nil {
		return err
	}
	if _, err := r.ftmctl("partition", "--for", soakPartition.String()); err != nil {
		return err
	}
	if err := r.waitStatus("each node took the other's bank over", func(st map[string]nodeStatus) bool {
		for _, n := range []string{"alpha", "beta"} {
			if s := st[n].Status; s == nil || s.STM == nil || s.STM.Takeovers != 1 {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}
	rows, err := r.ps()
	if err != nil {
		return err
	}
	both := len(rows) == 2
	if err := r.waitStatus("relinked and protected, each bank held once", func(st map[string]nodeStatus) bool {
		return protectedOwn(st) || protectedCross(st)
	}); err != nil {
		return err
	}
	r.note = fmt.Sprintf("both nodes took over; the task ran on both sides: %v", both)
	return r.finish("beta", 1)
}

// protectedCross: after a partition, each node holds the other's bank
// (taken over, higher epoch) and backs up its own old bank.
func protectedCross(st map[string]nodeStatus) bool {
	a, b := banks(st, "alpha"), banks(st, "beta")
	return b["alpha"] == pair.RoleTakenOver+"/"+pair.MirrorAttached && a["alpha"] == pair.RoleBackup+"/true" &&
		a["beta"] == pair.RoleTakenOver+"/"+pair.MirrorAttached && b["beta"] == pair.RoleBackup+"/true"
}

func (r *soakRun) killDuringReprotection() error {
	if err := r.startTask(); err != nil {
		return err
	}
	if err := r.checkpointed(1); err != nil {
		return err
	}
	if err := r.crash("alpha"); err != nil {
		return err
	}
	if _, err := r.waitFor("beta resumes the task", 30*time.Second, func(rows []taskRow) bool {
		return len(rows) == 1 && rows[0].Node == "beta"
	}); err != nil {
		return err
	}
	if err := r.restart("alpha"); err != nil {
		return err
	}
	protected := protectedBy("beta", "alpha")
	return r.killAlphaAgain(200*time.Millisecond, "while beta copied its banks to it", "after the re-protection",
		func(st map[string]nodeStatus) bool { return !protected(st) })
}
