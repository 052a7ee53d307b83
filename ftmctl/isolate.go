package main

import (
	"time"

	"github.com/spf13/cobra"
)

// isolateNode cuts node from every other member of the group for d: its
// pair link and its consensus traffic to and from its partner and the
// witness, all on node's side (one side cuts both ways).
func isolateNode(cmd *cobra.Command, f pairFlags, node string, d time.Duration) error {
	st, err := loadPair(f.dir)
	if err != nil {
		return err
	}
	if _, err := st.Node(node); err != nil {
		return err
	}
	var others []string
	for _, p := range st.Voters() {
		if p.Name != node {
			others = append(others, p.Name)
		}
	}
	f.node = node
	return injectFault(cmd, f, faultRequest{Kind: "partition", For: d, Members: others})
}
