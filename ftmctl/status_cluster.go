package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ftm-in-go/ftm/pair"
)

// A cluster's node has a link to every peer, each with its own epoch,
// losses and heartbeat; its status (control.Status) keeps the first
// peer's in the fields a pair's node fills, and every peer's in Peers.
// The status table says what holds for all of them.

// addClusterCells sets the cells of a cluster's node: its peers, its
// links up, the oldest heartbeat of a linked peer, the losses of all its
// links, and every other node's bank it holds.
func addClusterCells(cells map[string]string, s *nodeStatus, wide bool) {
	var peers []string
	var oldest time.Duration
	lost := 0
	for _, p := range s.Peers {
		peers = append(peers, p.Partner)
		lost += p.LostCount
		if p.Linked {
			oldest = max(oldest, p.HeartbeatAge)
		}
	}
	cells["PEERS"] = strings.Join(peers, ",")
	cells["LINKS"] = linkCell(s)
	cells["LOST"] = fmt.Sprint(lost)
	cells["HB AGE"] = "-"
	if oldest > 0 {
		cells["HB AGE"] = oldest.Round(time.Millisecond).String()
	}
	cells["PEER BANKS"] = strings.Join(peerBanks(s, wide), ", ")
}

// peerBanks lists the banks of other nodes that s's node holds: as their
// backup (copying while its first copy arrives) or taken over ("taken";
// -o wide: with its objects, sequence and backup).
func peerBanks(s *nodeStatus, wide bool) []string {
	if s.STM == nil {
		return nil
	}
	var out []string
	for _, b := range s.STM.Banks {
		switch {
		case b.Name == s.Name:
		case b.Role == pair.RoleBackup:
			out = append(out, b.Name+" backup"+map[bool]string{true: "", false: " (copying)"}[b.Ready])
		case wide:
			out = append(out, fmt.Sprintf("%s taken over: %d objs, seq %d, backup %s", b.Name, b.Objects, b.Seq, b.Mirror))
		default:
			out = append(out, b.Name+" taken")
		}
	}
	return out
}

// printLinks prints, under a cluster's wide table, every link as each
// node sees it: up or down, its epoch, its losses and its heartbeat's age.
func printLinks(w io.Writer, rows []statusRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "LINK\tSTATE\tEPOCH\tLOST\tHB AGE\tLAST CAUSE")
	for _, r := range rows {
		if r.Status == nil {
			continue
		}
		for _, p := range r.Status.Peers {
			hb := "-"
			if p.Linked && p.HeartbeatAge > 0 {
				hb = p.HeartbeatAge.Round(time.Millisecond).String()
			}
			fmt.Fprintf(tw, "%s → %s\t%s\t%d\t%d\t%s\t%s\n", r.Node, p.Partner, map[bool]string{false: "down", true: "up"}[p.Linked],
				p.Epoch, p.LostCount, hb, orDash(p.LastCause != "", p.LastCause))
		}
	}
	return tw.Flush()
}

// downPeerLinks lists the peers r's node runs no link to although both
// run (a dead peer is reported on its own row).
func downPeerLinks(rows []statusRow, r statusRow) []string {
	if r.Status == nil {
		return nil
	}
	running := map[string]bool{}
	for _, o := range rows {
		running[o.Node] = o.Status != nil
	}
	var out []string
	for _, p := range r.Status.Peers {
		if !p.Linked && running[p.Partner] {
			out = append(out, p.Partner)
		}
	}
	return out
}
