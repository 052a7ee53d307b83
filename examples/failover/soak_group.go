package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/ftm-in-go/ftm/pair"
)

// The group scenarios of `make soak`: the pair runs with its witness (the
// default of `ftmctl pair up`), an external client loop sends durable kv
// updates to alpha's kv server (soak_kv.go) while the sieve runs as a
// stable task on alpha, and at a random moment:
//
//   - group-kill: alpha is killed (SIGKILL); beta takes both banks over
//     under its lease and serves them; alpha is restarted, in half the runs
//     at once (during beta's takeover), in the others once beta holds its
//     bank, and re-protects both;
//   - group-kill-backup: beta is killed; alpha proceeds alone under its
//     lease; beta is restarted (at once, or once alpha holds its bank) and
//     re-protects alpha's bank;
//   - group-isolate: alpha is cut from beta and the witness (ftmctl
//     partition --isolate) long enough for beta to take its bank over;
//     alpha must lose its lease, and stop committing and stop its task,
//     before beta's takeover; after the heal beta keeps the bank and alpha
//     backs it up;
//   - group-isolate-short: the same, shorter than the failure detector:
//     alpha's lease lapses and its task pauses, nobody takes over, and the
//     task resumes on alpha when the lease is back;
//   - group-isolate-backup: beta is cut long enough for alpha to take its
//     bank over; the task goes on on alpha;
//   - group-partition: the nodes are cut from each other (ftmctl partition:
//     the pair link and their consensus traffic), both still reach the
//     witness: a node keeps its lease while it reaches the group's leader,
//     so either each goes on with its own bank alone, or the side that
//     lost the leader is taken over as in an isolation.
//
// Every run then checks: every acknowledged update reads 1 and none reads
// more (request ids make retries safe); the task ended once (one "stable
// task ended ... done" in all the nodes' logs, one row in ftmctl ps) with
// the prime a plain computation gives; the pair is protected again; and,
// for an isolation that led to a takeover, the isolated node's lease
// expired before the takeover and none of its checkpoints is timed after
// it.

// Verdicts of a run, counted in the soak's result line.
var (
	errWrong = errors.New("soak: wrong result")
	errLost  = errors.New("soak: acknowledged update lost")
	errTwice = errors.New("soak: done twice")
)

var groupScenarios = []scenario{
	{name: "group-kill", run: (*soakRun).groupKill, group: true, size: 1},
	{name: "group-kill-backup", run: (*soakRun).groupKillBackup, group: true, size: 1},
	{name: "group-isolate", run: (*soakRun).groupIsolate, group: true, size: 3},
	{name: "group-isolate-short", run: (*soakRun).groupIsolateShort, group: true, size: 2},
	{name: "group-isolate-backup", run: (*soakRun).groupIsolateBackup, group: true, size: 2},
	{name: "group-partition", run: (*soakRun).groupPartition, group: true, size: 3},
}

// soakIsolation is how long a long isolation lasts at least: past the
// failure detector (20 heartbeats, 2 s) and the lease wait (~0.5 s).
const soakIsolation = 3 * time.Second

// groupStatus is the part of a node's view of the group the soak reads.
type groupStatus struct {
	Lease struct {
		Held bool `json:"held"`
	} `json:"lease"`
	State struct {
		Banks map[string]struct {
			Primary string `json:"primary"`
			Backup  string `json:"backup"`
		} `json:"banks"`
	} `json:"state"`
}

// groupSettled: both nodes hold their leases and the group records each
// node's bank as backed up by the other (the steady state a failure meets).
func groupSettled(st map[string]nodeStatus) bool {
	for node, other := range map[string]string{"alpha": "beta", "beta": "alpha"} {
		s := st[node].Status
		if s == nil || s.Group == nil || !s.Group.Lease.Held {
			return false
		}
		if b := s.Group.State.Banks[node]; b.Primary != node || b.Backup != other {
			return false
		}
	}
	return true
}

// underLoad runs the client loop and the sieve around act, then checks the
// run's outcome. act returns the node the task must end on ("": either).
func (r *soakRun) underLoad(act func() (string, error)) error {
	if err := r.waitStatus("both leases held, both banks backed up in the group", groupSettled); err != nil {
		return err
	}
	loop, err := startKV(r.dir, "alpha", "u")
	if err != nil {
		return err
	}
	if err := loop.started(30 * time.Second); err != nil {
		_, _ = loop.finish()
		return err
	}
	err = r.startAndAct(act)
	t, kerr := loop.finish()
	r.acked, r.unsure = t.Acked, t.Unsure
	r.note += fmt.Sprintf("; kv %d acked, %d unsure", t.Acked, t.Unsure)
	if err != nil {
		return err
	}
	if kerr != nil {
		return kerr
	}
	return t.check()
}

// startAndAct starts the sieve, plays act at a random moment after its
// first checkpoint, and checks that the task ended once, right.
func (r *soakRun) startAndAct(act func() (string, error)) error {
	if err := r.startTask(); err != nil {
		return err
	}
	if err := r.checkpointed(1); err != nil {
		return err
	}
	time.Sleep(time.Duration(r.rng.Int64N(int64(300 * time.Millisecond))))
	node, err := act()
	if err != nil {
		return err
	}
	return r.endedOnce(node)
}

// endedOnce waits for the task to end and checks it ended once, with the
// right prime, on node (unless "").
func (r *soakRun) endedOnce(node string) error {
	rows, err := r.waitFor("the task ends, listed once", 120*time.Second, func(rows []taskRow) bool {
		return len(rows) >= 1 && rows[0].State != "running"
	})
	if err != nil {
		return err
	}
	t := rows[0]
	done, lerr := r.completions()
	switch {
	case lerr != nil:
		return lerr
	case len(rows) != 1 || done > 1:
		return fmt.Errorf("%w: task listed %d times, completed %d times in the logs (%+v)", errTwice, len(rows), done, rows)
	case t.State != "done" || t.Result != r.want:
		return fmt.Errorf("%w: task ended %s with %q, want %q", errWrong, t.State, t.Result, r.want)
	case node != "" && t.Node != node:
		return fmt.Errorf("task ended on %s, want %s", t.Node, node)
	}
	return nil
}

func (r *soakRun) groupKill() error {
	return r.underLoad(func() (string, error) {
		if err := r.killAndRestart("alpha", "beta"); err != nil {
			return "", err
		}
		return "", r.waitStatus("alpha back as the backup of both banks", protectedBy("beta", "alpha"))
	})
}

func (r *soakRun) groupKillBackup() error {
	return r.underLoad(func() (string, error) {
		if err := r.killAndRestart("beta", "alpha"); err != nil {
			return "", err
		}
		return "alpha", r.waitStatus("beta back as the backup of both banks", protectedBy("alpha", "beta"))
	})
}

// killAndRestart kills victim (SIGKILL) and starts it again: in half the
// runs at once, as the tests do (the new process links while survivor is
// still taking its bank over or waiting for its lease), in the others once
// survivor holds victim's bank.
func (r *soakRun) killAndRestart(victim, survivor string) error {
	if err := r.kill(victim); err != nil {
		return err
	}
	when := "at once"
	if r.rng.IntN(2) == 0 {
		when = "once " + survivor + " held its bank"
		if err := r.waitStatus(survivor+" holds "+victim+"'s bank", func(st map[string]nodeStatus) bool {
			_, ok := bankOf(st, survivor, victim, pair.RoleTakenOver)
			return ok
		}); err != nil {
			return err
		}
	}
	if err := r.restart(victim); err != nil {
		return err
	}
	r.note = victim + " killed, restarted " + when
	return nil
}

func (r *soakRun) groupIsolate() error {
	return r.underLoad(func() (string, error) {
		d := soakIsolation + time.Duration(r.rng.Int64N(int64(time.Second)))
		return "", r.isolate("alpha", "beta", d)
	})
}

func (r *soakRun) groupIsolateShort() error {
	return r.underLoad(func() (string, error) {
		d := 300*time.Millisecond + time.Duration(r.rng.Int64N(int64(1200*time.Millisecond)))
		return "", r.isolate("alpha", "beta", d)
	})
}

func (r *soakRun) groupIsolateBackup() error {
	return r.underLoad(func() (string, error) {
		d := soakIsolation + time.Duration(r.rng.Int64N(int64(time.Second)))
		return "alpha", r.isolate("beta", "alpha", d)
	})
}

// isolate cuts node from every other member for d, waits for the heal and
// the pair's protection, and checks the minority's timeline.
func (r *soakRun) isolate(node, other string, d time.Duration) error {
	return r.cutFor([]string{"--isolate", node}, node, other, d)
}

// cutFor runs ftmctl partition with how for d, waits for the heal and the
// pair's protection, and checks the timeline of node's side (a plain
// partition: of both sides).
func (r *soakRun) cutFor(how []string, node, other string, d time.Duration) error {
	if _, err := r.ftmctl(append(append([]string{"partition"}, how...), "--for", d.String())...); err != nil {
		return err
	}
	cut := time.Now()
	watched, err := r.minorityStill(node, other, cut.Add(d))
	if err != nil {
		return err
	}
	time.Sleep(time.Until(cut.Add(d)))
	if err := r.waitStatus("healed: the pair protected again", func(st map[string]nodeStatus) bool {
		return protectedBy(node, other)(st) || protectedBy(other, node)(st) || protectedOwn(st) || protectedCross(st)
	}); err != nil {
		return err
	}
	took, err := r.minorityFirst(node, other)
	r.tookOver = took
	what := "between the nodes"
	if len(how) > 0 {
		what = strings.Join(how, " ")
	}
	r.note = fmt.Sprintf("partition %s for %v, %s took %s's bank over: %v (seen during the cut: %v); protected %v after the cut",
		what, d.Round(time.Millisecond), other, node, took, watched, time.Since(cut).Round(time.Millisecond))
	if err != nil || len(how) > 0 {
		return err
	}
	back, err := r.minorityFirst(other, node)
	r.note += fmt.Sprintf("; %s took %s's: %v", node, other, back)
	return err
}

// groupPartition cuts the two nodes from each other (both still reach the
// witness): a node keeps its lease while it reaches the group's leader, so
// either nobody takes over or the side that lost the leader is taken over.
func (r *soakRun) groupPartition() error {
	return r.underLoad(func() (string, error) {
		d := soakIsolation + time.Duration(r.rng.Int64N(int64(time.Second)))
		return "", r.cutFor(nil, "alpha", "beta", d)
	})
}

// minorityStill watches the isolation until end: once other holds node's
// bank as taken over, node's own copy of it must commit nothing more (its
// ftm_stm_bank_commits_total stays put) while the cut lasts. It reports
// whether it saw the takeover during the cut.
func (r *soakRun) minorityStill(node, other string, end time.Time) (bool, error) {
	var commits string
	seen := false
	for ; time.Until(end) > 100*time.Millisecond; time.Sleep(20 * time.Millisecond) {
		st, err := r.status()
		if err != nil {
			continue
		}
		_, ok := bankOf(st, node, node, pair.RoleOwn)
		_, taken := bankOf(st, other, node, pair.RoleTakenOver)
		if !ok || !taken {
			continue
		}
		n, err := r.commits(node)
		switch {
		case err != nil:
		case !seen:
			commits, seen = n, true
		case n != commits:
			return seen, fmt.Errorf("%w: %s committed its bank (commits %s, then %s) after %s took it over", errWrong, node, commits, n, other)
		}
	}
	return seen, nil
}

// commits reads node's ftm_stm_bank_commits_total for its own bank.
func (r *soakRun) commits(node string) (string, error) {
	out, err := r.ftmctl("metrics", node)
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^ftm_stm_bank_commits_total\{bank="` + node + `"\} (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("no ftm_stm_bank_commits_total for bank %s in %s's metrics", node, node)
	}
	return m[1], nil
}

// bankOf returns node's bank named bank if node holds it in role.
func bankOf(st map[string]nodeStatus, node, bank, role string) (pair.BankStatus, bool) {
	s := st[node].Status
	if s == nil || s.STM == nil {
		return pair.BankStatus{}, false
	}
	for _, b := range s.STM.Banks {
		if b.Name == bank && b.Role == role {
			return b, true
		}
	}
	return pair.BankStatus{}, false
}

// logLine is the part of a node's log line the soak reads.
type logLine struct {
	TS    float64 `json:"ts"`
	Msg   string  `json:"msg"`
	Bank  string  `json:"bank"`
	State string  `json:"state"`
}

// Log messages the soak looks for.
const (
	msgTaskEnded   = "stable task ended"
	msgLeaseLost   = "lease expired: no majority heard from us in time; work that needs it stops"
	msgLeaseHeld   = "lease held"
	msgTasksStop   = "lease expired: stopping the stable tasks of a bank we are primary of"
	msgTakenByLaw  = "bank taken over through the group: the old primary's lease expired"
	msgFaultInject = "fault injected by ftmctl"
)

// readLog returns node's log lines.
func (r *soakRun) readLog(node string) ([]logLine, error) {
	f, err := os.Open(filepath.Join(r.dir, node+".log"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}

// completions counts the task's completions in both nodes' logs.
func (r *soakRun) completions() (int, error) {
	n := 0
	for _, node := range []string{"alpha", "beta"} {
		lines, err := r.readLog(node)
		if err != nil {
			return 0, err
		}
		for _, l := range lines {
			if l.Msg == msgTaskEnded && l.State == "done" {
				n++
			}
		}
	}
	return n, nil
}

// firstAfter is the time of the first line with msg (and bank, unless "")
// after from; zero if none.
func firstAfter(lines []logLine, from float64, msg, bank string) float64 {
	for _, l := range lines {
		if l.TS >= from && l.Msg == msg && (bank == "" || l.Bank == bank) {
			return l.TS
		}
	}
	return 0
}

// minorityFirst checks, when other took node's bank over during the
// isolation, that node's lease expired before the takeover and that no
// checkpoint of node's is timed after it. It reports whether other took
// the bank over.
func (r *soakRun) minorityFirst(node, other string) (bool, error) {
	nl, err := r.readLog(node)
	if err != nil {
		return false, err
	}
	ol, err := r.readLog(other)
	if err != nil {
		return false, err
	}
	cut := firstAfter(nl, 0, msgFaultInject, "")
	taken := firstAfter(ol, cut, msgTakenByLaw, node)
	if cut == 0 || taken == 0 {
		return false, nil
	}
	if held, at := leaseAt(nl, taken); held {
		return true, fmt.Errorf("%w: %s took %s's bank over at %.3f while %s's lease held (since %.3f)",
			errWrong, other, node, taken, node, at)
	}
	if stop := firstAfter(nl, cut, msgTasksStop, node); stop == 0 || stop >= taken {
		return true, fmt.Errorf("%w: %s took %s's bank over at %.3f, %s stopped its tasks at %.3f (0: never)",
			errTwice, other, node, taken, node, stop)
	}
	return true, r.noCheckpointAfter(node, taken)
}

// leaseAt says whether the node's log shows its lease held at ts: its last
// "lease held" or "lease expired" line before ts, and that line's time.
func leaseAt(lines []logLine, ts float64) (bool, float64) {
	held, at := false, 0.0
	for _, l := range lines {
		if l.TS >= ts {
			break
		}
		switch l.Msg {
		case msgLeaseHeld:
			held, at = true, l.TS
		case msgLeaseLost:
			held, at = false, l.TS
		}
	}
	return held, at
}

// noCheckpointAfter checks that node's checkpoint log shows no checkpoint
// of its own bank after ts (seconds since the epoch).
func (r *soakRun) noCheckpointAfter(node string, ts float64) error {
	out, err := r.ftmctl("ckpt", "log", "--node", node, "-o", "json")
	if err != nil {
		return err
	}
	var entries []struct {
		Time       time.Time `json:"time"`
		Node, Bank string
	}
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		return fmt.Errorf("ckpt log of %s: %w", node, err)
	}
	limit := time.Unix(0, int64(ts*1e9))
	for _, e := range entries {
		if e.Node == node && e.Bank == node && e.Time.After(limit) {
			return fmt.Errorf("%w: %s checkpointed its bank at %s, after the takeover at %s", errWrong, node,
				e.Time.Format(time.StampMicro), limit.Format(time.StampMicro))
		}
	}
	return nil
}
