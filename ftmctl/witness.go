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

// startWitness starts st's witness unless it runs; it reports whether it
// started it.
func startWitness(dir, exe string, st *pairState) (bool, error) {
	w := st.Witness
	if w == nil || nodeAlive(w) {
		return false, nil
	}
	pid, err := startProcess(exe, w, "--dir", dir, "--witness")
	if err != nil {
		return false, err
	}
	w.PID = pid
	return true, nil
}

// stopWitness stops st's witness, if it has one, as stopNodes stops a node.
func (d pairDown) stopWitness(ctx context.Context, st *pairState) error {
	w := st.Witness
	if w == nil {
		return nil
	}
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
	if st.Witness != nil {
		fmt.Fprintf(w, "witness %-5s pid %-7d group %s  log %s\n", st.Witness.Name, st.Witness.PID, st.Witness.Consensus, st.Witness.Log)
	}
}
