package cluster

// The lease counts of the other nodes are watched all along, not only
// once a takeover is asked for: Run notes, after each renewal, when this
// member first saw each node's current count applied, and TakeOver starts
// its expiry wait from there. So when a frozen or cut-off primary is
// declared dead by the pair's heartbeats (a second of silence by
// default), its count has already stood still for longer than ExpiryWait
// and its bank is taken over at once. The argument of doc.go, "Leases",
// holds as is: the time is still when this member first saw the count,
// only seen earlier (up to one renewal period late, which only lengthens
// the wait).

// watchCounts notes every node's lease count as this member sees it now.
func (l *Lease) watchCounts() {
	st := l.cfg.Consensus.State()
	now := l.cfg.Clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]expiryWatch{}
	}
	for node, count := range st.Leases {
		if node == l.cfg.Node {
			continue
		}
		w := l.seen[node]
		w.learn(node, count, now)
		l.seen[node] = w
	}
}

// watched returns the watch of holder's lease if it was last seen at
// count (a fresh watch otherwise).
func (l *Lease) watched(holder string, count uint64) expiryWatch {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w, ok := l.seen[holder]; ok && w.count == count {
		return w
	}
	return expiryWatch{}
}
