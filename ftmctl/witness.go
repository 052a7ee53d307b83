package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
)

// The pair's witness: `pair up` starts, besides the two nodes, a third
// process of the node binary (--witness) that votes in the group deciding
// which node holds each bank and granting the leases (package cluster),
// and holds no bank: with it, either node alone is a majority, so the
// survivor of a crash commits for both banks without waiting for a
// restart. --no-witness starts the pair without a group (a bank with no
// backup then refuses commits).

// witnessName is the witness's name, unless a node has it.
func witnessName(nodes []string) string {
	name := "witness"
	for taken := true; taken; {
		taken = false
		for _, n := range nodes {
			if n == name {
				name, taken = name+"-w", true
			}
		}
	}
	return name
}

// planWitness gives every node of st a consensus address and adds the
// witness, and removes the group logs a previous pair left in dir.
func planWitness(dir string, st *pairState) error {
	names := make([]string, 0, len(st.Nodes))
	for i := range st.Nodes {
		host, _, err := net.SplitHostPort(st.Nodes[i].Addr) // on the node's own host
		if err != nil {
			return err
		}
		addr, err := freeAddr(host)
		if err != nil {
			return err
		}
		st.Nodes[i].Consensus = addr
		names = append(names, st.Nodes[i].Name)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	name := witnessName(names)
	st.Witness = &nodeState{Name: name, Consensus: addr, Log: filepath.Join(dir, name+".log")}
	old, _ := filepath.Glob(filepath.Join(dir, "*.raft"))
	for _, d := range old {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("remove the old group log %s: %w", d, err)
		}
	}
	return nil
}

// startWitnesses starts st's witnesses that do not run; it returns those
// it started.
func startWitnesses(dir, exe string, st *pairState) ([]*nodeState, error) {
	var started []*nodeState
	for _, w := range st.AllWitnesses() {
		if nodeAlive(w) {
			continue
		}
		args := []string{"--dir", dir, "--witness"}
		if w != st.Witness { // a cluster's further witness
			args = append(args, "--name", w.Name)
		}
		pid, err := startProcess(exe, w, args...)
		if err != nil {
			return started, err
		}
		w.PID = pid
		started = append(started, w)
	}
	return started, nil
}

// stopWitness stops st's witnesses, as stopNodes stops a node.
func (d pairDown) stopWitness(ctx context.Context, st *pairState) error {
	var errs []error
	for _, w := range st.AllWitnesses() {
		errs = append(errs, d.stopOneWitness(ctx, w))
	}
	return firstError(errs...)
}

// stopOneWitness stops witness w.
func (d pairDown) stopOneWitness(ctx context.Context, w *nodeState) error {
	err := verifyNode(ctx, d.dir, w)
	switch {
	case errors.Is(err, errNotRunning):
		fmt.Fprintf(d.w, "witness %s: not running\n", w.Name)
	case err != nil:
		fmt.Fprintf(d.w, "witness %s: not signalled\n", w.Name)
		return refusal(w, err)
	default:
		fmt.Fprintf(d.w, "witness %s: %s\n", w.Name, stopProcess(ctx, w, d.grace))
	}
	return nil
}

// printWitness says where the witness runs.
func printWitness(w io.Writer, st *pairState) {
	for _, x := range st.AllWitnesses() {
		fmt.Fprintf(w, "witness %-5s pid %-7d group %s  log %s\n", x.Name, x.PID, x.Consensus, x.Log)
	}
}
