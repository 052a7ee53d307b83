package node

import "time"

// A partition injected by ftmctl cuts the group's traffic as well as the
// pair link, so a real-process partition isolates a node from the group:
// cut on this node's side only (one side is enough, both ways).

// cut cuts the consensus traffic to and from members (none named: the
// partner) for d (0: until heal); nothing without a group.
func (g *nodeGroup) cut(members []string, partner string, d time.Duration) {
	if g == nil {
		return
	}
	if len(members) == 0 {
		members = []string{partner}
	}
	g.member.Cut(members, d)
}

// heal ends the consensus cuts.
func (g *nodeGroup) heal() {
	if g != nil {
		g.member.Heal()
	}
}

// cutOff lists the members cut now (nil without a group).
func (g *nodeGroup) cutOff() []string {
	if g == nil {
		return nil
	}
	return g.member.CutOff()
}
