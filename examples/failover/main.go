// Command failover is the headline demonstration: it starts a stable node
// pair (two OS processes), runs the paper's prime computation as a stable
// task on the first node, kills that node with SIGKILL part-way, and shows
// the second node take over and finish the computation from the last
// checkpoint. It drives the real ftmctl binary, as an operator would.
//
// With -kills N it repeats that N times and reports the takeover times;
// with -soak N it runs the kill loop of `make soak` instead (soak.go):
// kills at random moments, during checkpoints, during takeovers and
// re-protections, second failures, and partitions, each run checked
// against a plain computation of the primes.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func main() {
	bin := flag.String("ftmctl", "bin/ftmctl", "the ftmctl binary")
	n := flag.Int("n", 1600000, "how many primes to find (enough for a run of a few seconds, so the kill lands mid-run)")
	kills := flag.Int("kills", 1, "repeat the scenario this many times and report takeover times")
	soakRuns := flag.Int("soak", 0, "run the kill loop this many times instead (soak.go: kills at random moments, during checkpoints, during takeovers, and second failures after re-protection)")
	soakN := flag.Int("soak-n", 800000, "with -soak: primes per run (checked against a plain sieve of Eratosthenes); second-failure runs use 2x (1,600,000 primes by default), partition runs 3x")
	outages := flag.Int("outages", 0, "measure the write unavailability over this many losses of the node of a client's server instead (outage.go)")
	silent := flag.Bool("silent", false, "with -outages: freeze the node with SIGSTOP (a silent loss) instead of SIGKILL")
	flag.Parse()
	if *outages > 0 {
		if err := reportOutages(*bin, *outages, outageSignal(*silent)); err != nil {
			fmt.Fprintln(os.Stderr, "outages:", err)
			os.Exit(1)
		}
		return
	}
	if *soakRuns > 0 {
		if err := soak(*bin, *soakN, *soakRuns); err != nil {
			fmt.Fprintln(os.Stderr, "soak:", err)
			os.Exit(1)
		}
		return
	}
	if *kills > 1 {
		if err := measure(*bin, *n, *kills); err != nil {
			fmt.Fprintln(os.Stderr, "failover demo:", err)
			os.Exit(1)
		}
		return
	}
	if _, err := run(*bin, *n, true); err != nil {
		fmt.Fprintln(os.Stderr, "failover demo:", err)
		os.Exit(1)
	}
	fmt.Println()
	if err := showOutage(*bin); err != nil { // demo_outage.go
		fmt.Fprintln(os.Stderr, "failover demo:", err)
		os.Exit(1)
	}
}

type demo struct {
	bin, dir string
	env      []string // added to the environment of ftmctl (and so of the nodes pair up starts)
}

func (d demo) ftmctl(args ...string) (string, error) {
	cmd := exec.Command(d.bin, append(args, "--dir", d.dir)...)
	cmd.Env = append(os.Environ(), d.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ftmctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// taskRow is the part of `ftmctl ps -o json` the demo reads.
type taskRow struct {
	Node, Bank, State, Result string
	Restarts                  int
	Since                     time.Time `json:"running_since"`
	Stats                     struct {
		Checkpoints  int   `json:"checkpoints"`
		PagesSaved   int   `json:"pages_saved"`
		LastProgress int64 `json:"last_progress"`
		Restored     bool  `json:"restored"`
	}
}

func (d demo) ps() ([]taskRow, error) {
	// Standard output only: a node dying right now is reported on stderr.
	out, err := exec.Command(d.bin, "ps", "-o", "json", "--dir", d.dir).Output()
	if err != nil {
		return nil, err
	}
	var rows []taskRow
	return rows, json.Unmarshal(out, &rows)
}

func (d demo) waitFor(what string, timeout time.Duration, cond func([]taskRow) bool) ([]taskRow, error) {
	deadline := time.Now().Add(timeout)
	var rows []taskRow
	var err error
	for time.Now().Before(deadline) {
		rows, err = d.ps()
		if err == nil && cond(rows) {
			return rows, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("timed out waiting until %s (last seen: %+v, %v; logs in %s)", what, rows, err, d.dir)
}

// run plays the scenario once and returns the takeover time: from the
// SIGKILL to the task running again on the survivor.
func run(bin string, n int, verbose bool) (time.Duration, error) {
	rep := reporter{verbose: verbose}
	say, show := rep.say, rep.show
	d, cleanup, err := startPair(bin, nil, nil, rep)
	if err != nil {
		return 0, err
	}
	keep := true // the logs stay when the run fails
	defer func() { cleanup(keep) }()
	if err := retry(10*time.Second, func() error { _, err := d.ftmctl("run", "primes", fmt.Sprint(n)); return err }); err != nil {
		return 0, err
	}
	say(fmt.Sprintf("running the prime computation (first %d primes) as a stable task on alpha", n))
	rows, err := d.waitFor("a quarter of the work checkpointed", 60*time.Second, func(r []taskRow) bool {
		return len(r) == 1 && (r[0].Stats.LastProgress >= int64(n/2048/4) || r[0].State != "running")
	})
	if err != nil {
		return 0, err
	}
	if rows[0].State != "running" {
		return 0, fmt.Errorf("the task ended (%s %s) before it could be killed; try a larger -n", rows[0].State, rows[0].Result)
	}
	say(fmt.Sprintf("alpha has taken %d checkpoints (%d pages saved, last at page %d of %d); killing alpha with SIGKILL",
		rows[0].Stats.Checkpoints, rows[0].Stats.PagesSaved, rows[0].Stats.LastProgress, (n+2047)/2048))
	killed := time.Now()
	if _, err := d.ftmctl("crash", "alpha"); err != nil {
		return 0, err
	}
	rows, err = d.waitFor("beta restarts the task", 30*time.Second, func(r []taskRow) bool {
		return len(r) == 1 && r[0].Node == "beta"
	})
	if err != nil {
		return 0, err
	}
	takeover := rows[0].Since.Sub(killed)
	say(fmt.Sprintf("beta took over alpha's bank and restarted the task from its last checkpoint %v after the kill", takeover.Round(100*time.Microsecond)))
	rows, err = d.waitFor("the task finishes", 120*time.Second, func(r []taskRow) bool {
		return len(r) == 1 && r[0].State != "running"
	})
	if err != nil {
		return 0, err
	}
	if rows[0].State != "done" {
		return 0, errors.New("the task failed on beta: " + rows[0].Result)
	}
	status, _ := d.ftmctl("status")
	show(status)
	say(fmt.Sprintf("result on beta: %s (restarts: %d, resumed from a checkpoint: %v)", rows[0].Result, rows[0].Restarts, rows[0].Stats.Restored))
	if want, err := plainPrimes(n); err != nil || rows[0].Result != want {
		return 0, fmt.Errorf("unexpected result %q, want %q (%v)", rows[0].Result, want, err)
	}
	keep = false
	return takeover, nil
}

// reporter prints the steps of a run and the output of its commands; it is
// silent unless verbose.
type reporter struct{ verbose bool }

// say prints a step.
func (r reporter) say(s string) {
	if r.verbose {
		fmt.Println("==> " + s)
	}
}

// show prints a command's output.
func (r reporter) show(s string) {
	if r.verbose {
		fmt.Print(indent(s))
	}
}

// startPair brings a pair up in a temporary directory; cleanup stops it and,
// unless keep, removes the directory.
func startPair(bin string, env, upArgs []string, rep reporter) (demo, func(keep bool), error) {
	if _, err := os.Stat(bin); err != nil {
		return demo{}, nil, fmt.Errorf("no ftmctl binary at %s (run `make build`): %w", bin, err)
	}
	tmp, err := os.MkdirTemp("", "ftm-demo-")
	if err != nil {
		return demo{}, nil, err
	}
	d := demo{bin: bin, dir: filepath.Join(tmp, "pair"), env: env}
	cleanup := func(keep bool) {
		_, _ = d.ftmctl("pair", "down", "--grace", "1s")
		if !keep {
			os.RemoveAll(tmp)
		}
	}
	rep.say("starting a stable pair: nodes alpha and beta, two processes on 127.0.0.1")
	out, err := d.ftmctl(append([]string{"pair", "up", "--allow-faults"}, upArgs...)...)
	if err != nil {
		cleanup(true)
		return demo{}, nil, err
	}
	rep.show(out)
	return d, cleanup, nil
}

// measure repeats the scenario and prints the median and maximum takeover.
func measure(bin string, n, kills int) error {
	var ts []time.Duration
	for i := 0; i < kills; i++ {
		t, err := run(bin, n, false)
		if err != nil {
			return fmt.Errorf("kill %d: %w", i+1, err)
		}
		ts = append(ts, t)
		fmt.Printf("kill %2d: task running again on the survivor %v after SIGKILL\n", i+1, t.Round(100*time.Microsecond))
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	fmt.Printf("takeover over %d kills: min %v, median %v, max %v\n", kills, ts[0].Round(100*time.Microsecond),
		ts[len(ts)/2].Round(100*time.Microsecond), ts[len(ts)-1].Round(100*time.Microsecond))
	return nil
}

func retry(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n") + "\n"
}
