package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// The soak's loop: -soak N runs, scenarios in turn (those -soak-scenarios
// picks), each with its own random source drawn from -seed and the run's
// number, so a run is replayed with the same -seed and scenarios. A run
// that goes wrong does not stop the loop: its logs stay and the result
// line counts it. The soak fails unless every count of the line is 0.

var (
	soakSeed  = flag.Uint64("seed", 0, "with -soak: the seed of the runs' random moments (a run is replayed with the same seed, scenarios and run number)")
	soakWhich = flag.String("soak-scenarios", "all", "with -soak: all, pair (no witness), group (with the witness: kv client loop and sieve under kills and isolations), or a comma-separated list of scenario names")
)

// soakTally counts the runs' outcomes.
type soakTally struct {
	runs, wrong, lost, twice, failed int
	acked, unsure                    int
	byScenario                       map[string]int
	firstBad                         []string
}

// pickScenarios returns the scenarios which names.
func pickScenarios(which string) ([]scenario, error) {
	all := append(append([]scenario(nil), scenarios...), groupScenarios...)
	var out []scenario
	want := map[string]bool{}
	for _, w := range strings.Split(which, ",") {
		want[strings.TrimSpace(w)] = true
	}
	for _, sc := range all {
		if want["all"] || want[sc.name] || (want["group"] && sc.group) || (want["pair"] && !sc.group) {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-soak-scenarios %q names no scenario", which)
	}
	return out, nil
}

// soak runs the loop and prints its result line.
func soak(bin string, n, runs int) error {
	picked, err := pickScenarios(*soakWhich)
	if err != nil {
		return err
	}
	want := map[int]string{}
	for _, m := range []int{n, 2 * n, 3 * n} {
		if want[m], err = plainPrimes(m); err != nil {
			return err
		}
	}
	t := soakTally{byScenario: map[string]int{}}
	start := time.Now()
	for i := 0; i < runs; i++ {
		sc := picked[i%len(picked)]
		m := n * sc.size
		r := &soakRun{n: m, want: want[m], rng: rand.New(rand.NewPCG(uint64(i), 7+*soakSeed))}
		note, err := soakOnce(bin, sc, r, r.envFor(sc.name))
		t.add(i+1, sc.name, r, err)
		if err == nil {
			fmt.Printf("run %3d %-20s ok  %s\n", i+1, sc.name, note)
		}
	}
	fmt.Println(t.line(*soakSeed, time.Since(start)))
	if t.wrong+t.lost+t.twice+t.failed > 0 {
		return fmt.Errorf("%d runs went wrong: %s", t.wrong+t.lost+t.twice+t.failed, strings.Join(t.firstBad, "; "))
	}
	return nil
}

// add counts run i's outcome.
func (t *soakTally) add(i int, name string, r *soakRun, err error) {
	t.runs++
	t.byScenario[name]++
	t.acked += r.acked
	t.unsure += r.unsure
	if err == nil {
		return
	}
	switch {
	case errors.Is(err, errWrong):
		t.wrong++
	case errors.Is(err, errLost):
		t.lost++
	case errors.Is(err, errTwice):
		t.twice++
	default:
		t.failed++
	}
	msg := fmt.Sprintf("run %d (%s): %v", i, name, err)
	fmt.Printf("run %3d %-20s FAIL %v\n", i, name, err)
	if len(t.firstBad) < 5 {
		t.firstBad = append(t.firstBad, msg)
	}
}

// line is the soak's result line.
func (t *soakTally) line(seed uint64, took time.Duration) string {
	names := make([]string, 0, len(t.byScenario))
	for k, v := range t.byScenario {
		names = append(names, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(names)
	return fmt.Sprintf("soak: %d runs (seed %d): %d wrong, %d lost, %d tasks completed twice, %d failed otherwise; "+
		"kv updates acknowledged %d (%d unacknowledged, each 0 or 1); %s; in %v",
		t.runs, seed, t.wrong, t.lost, t.twice, t.failed, t.acked, t.unsure, strings.Join(names, ", "), took.Round(time.Second))
}
