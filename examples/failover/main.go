// Command failover is the headline demonstration: it starts a stable node
// pair (two OS processes), runs the paper's prime computation as a stable
// task on the first node, kills that node with SIGKILL part-way, and shows
// the second node take over and finish the computation from the last
// checkpoint. It drives the real ftmctl binary, as an operator would.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	bin := flag.String("ftmctl", "bin/ftmctl", "the ftmctl binary")
	n := flag.Int("n", 400000, "how many primes to find")
	flag.Parse()
	if err := run(*bin, *n); err != nil {
		fmt.Fprintln(os.Stderr, "failover demo:", err)
		os.Exit(1)
	}
}

type demo struct {
	bin, dir string
}

func (d demo) ftmctl(args ...string) (string, error) {
	out, err := exec.Command(d.bin, append(args, "--dir", d.dir)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ftmctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// taskRow is the part of `ftmctl ps -o json` the demo reads.
type taskRow struct {
	Node, Bank, State, Result string
	Restarts                  int
	Stats                     struct {
		Checkpoints  int   `json:"checkpoints"`
		PagesSaved   int   `json:"pages_saved"`
		LastProgress int64 `json:"last_progress"`
		Restored     bool  `json:"restored"`
	}
}

func (d demo) ps() ([]taskRow, error) {
	out, err := d.ftmctl("ps", "-o", "json")
	if err != nil {
		return nil, err
	}
	var rows []taskRow
	return rows, json.Unmarshal([]byte(out), &rows)
}

func (d demo) waitFor(what string, timeout time.Duration, cond func([]taskRow) bool) ([]taskRow, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		rows, err := d.ps()
		if err == nil && cond(rows) {
			return rows, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("timed out waiting until %s", what)
}

func run(bin string, n int) error {
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("no ftmctl binary at %s (run `make build`): %w", bin, err)
	}
	tmp, err := os.MkdirTemp("", "ftm-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	d := demo{bin: bin, dir: filepath.Join(tmp, "pair")}
	say("starting a stable pair: nodes alpha and beta, two processes on 127.0.0.1")
	out, err := d.ftmctl("pair", "up", "--allow-faults")
	if err != nil {
		return err
	}
	defer d.ftmctl("pair", "down", "--grace", "1s") //nolint:errcheck
	fmt.Print(indent(out))
	if err := retry(10*time.Second, func() error { _, err := d.ftmctl("run", "primes", fmt.Sprint(n)); return err }); err != nil {
		return err
	}
	say(fmt.Sprintf("running the prime computation (first %d primes) as a stable task on alpha", n))
	rows, err := d.waitFor("a few checkpoints", 60*time.Second, func(r []taskRow) bool {
		return len(r) == 1 && r[0].Stats.Checkpoints >= 7
	})
	if err != nil {
		return err
	}
	say(fmt.Sprintf("alpha has taken %d checkpoints (%d pages saved, last at page %d); killing alpha with SIGKILL",
		rows[0].Stats.Checkpoints, rows[0].Stats.PagesSaved, rows[0].Stats.LastProgress))
	killed := time.Now()
	if _, err := d.ftmctl("crash", "alpha"); err != nil {
		return err
	}
	if _, err := d.waitFor("beta restarts the task", 30*time.Second, func(r []taskRow) bool {
		return len(r) == 1 && r[0].Node == "beta"
	}); err != nil {
		return err
	}
	restarted := time.Since(killed)
	say(fmt.Sprintf("beta took over alpha's bank and restarted the task from its last checkpoint %v after the kill", restarted.Round(time.Millisecond)))
	rows, err = d.waitFor("the task finishes", 120*time.Second, func(r []taskRow) bool {
		return len(r) == 1 && r[0].State != "running"
	})
	if err != nil {
		return err
	}
	if rows[0].State != "done" {
		return errors.New("the task failed on beta: " + rows[0].Result)
	}
	status, _ := d.ftmctl("status")
	fmt.Print(indent(status))
	say(fmt.Sprintf("result on beta: %s (restarts: %d, resumed from a checkpoint: %v)", rows[0].Result, rows[0].Restarts, rows[0].Stats.Restored))
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

func say(s string) { fmt.Println("==> " + s) }

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n") + "\n"
}
