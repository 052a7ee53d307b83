package cluster

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
)

// Member is one voter of the group: a node, or a witness that holds no bank.
type Member struct {
	Name    string `json:"name"`
	Addr    string `json:"addr"` // its consensus address
	Witness bool   `json:"witness,omitempty"`
}

// BankState is who holds one STM bank, as the group agreed.
type BankState struct {
	Primary string `json:"primary"`
	// Backup is the node whose backup bank holds a full copy, "" when the
	// bank has none: then only the primary holds it, and it may commit
	// alone under its lease, and no other node may take it over.
	Backup string `json:"backup,omitempty"`
	// Epoch counts the bank's takeovers; a takeover raises it by one.
	Epoch uint64 `json:"epoch"`
	// Orphan: the primary's process restarted (its lease was renewed by
	// a new incarnation), so the copy it held is gone: the bank commits
	// alone nowhere, and its backup may take it over at once.
	Orphan bool `json:"orphan,omitempty"`
	// Mirrored: the bank has never committed alone (set when claimed,
	// cleared by OpDropBackup), so every commit it made went to the one
	// partner that mirrored it: while it has no backup recorded, a node
	// holding a complete copy may still take it over (a primary that died
	// before its backup was recorded), and its primary does not commit it
	// alone until it has had a backup and lost it.
	Mirrored bool `json:"mirrored,omitempty"`
	// Target is the node the placement chose as the bank's next backup
	// (OpPlace), receiving its full copy; cleared once a backup is set.
	Target string `json:"target,omitempty"`
}

// State is the replicated state. Apply is its only writer and is
// deterministic: it reads no clock and no randomness, so every member that
// applies the same commands holds the same state.
type State struct {
	Members map[string]Member    `json:"members"`
	Banks   map[string]BankState `json:"banks"`
	// Leases counts each node's lease renewals applied. A renewal is the
	// lease's proof that the majority heard from the node after it asked;
	// a count that stays unchanged long enough (Lease.ExpiryWait) on an
	// observer's clock means the holder's lease has expired.
	Leases map[string]uint64 `json:"leases"`
	// Incarnations is the incarnation of each node's last command: a
	// process draws a new one when it starts.
	Incarnations map[string]uint64 `json:"incarnations"`
	// Applied counts the commands applied (the log position in commands).
	Applied uint64 `json:"applied"`
	// Recent holds each proposer's last commands (by ID) and what they
	// did, so that a proposal retried after an attempt that was applied
	// all the same (its reply lost, its apply timed out) is answered
	// with the first result and never applied twice.
	Recent map[string][]Applied `json:"recent,omitempty"`
}

// Applied is a command's ID and the result of its one application.
type Applied struct {
	ID     uint64 `json:"id"`
	Result Result `json:"result"`
}

// recentKept is how many commands of each proposer State.Recent keeps:
// more than a node ever has in flight at once.
const recentKept = 32

// NewState returns the empty state.
func NewState() State {
	return State{Members: map[string]Member{}, Banks: map[string]BankState{}, Leases: map[string]uint64{},
		Incarnations: map[string]uint64{}}
}

// Clone returns a deep copy.
func (s State) Clone() State {
	c := s
	c.Members = maps.Clone(s.Members)
	c.Banks = maps.Clone(s.Banks)
	c.Leases = maps.Clone(s.Leases)
	c.Incarnations = maps.Clone(s.Incarnations)
	c.Recent = make(map[string][]Applied, len(s.Recent))
	for node, r := range s.Recent {
		c.Recent[node] = slices.Clone(r)
	}
	if c.Incarnations == nil {
		c.Incarnations = map[string]uint64{}
	}
	if c.Members == nil {
		c.Members = map[string]Member{}
	}
	if c.Banks == nil {
		c.Banks = map[string]BankState{}
	}
	if c.Leases == nil {
		c.Leases = map[string]uint64{}
	}
	return c
}

// Op is the kind of a Command.
type Op uint8

// The commands the group agrees on.
const (
	// OpJoin records Member (a node or a witness).
	OpJoin Op = iota + 1
	// OpClaim makes Node the primary of Bank with no backup, if nobody
	// holds Bank yet, or if Bank is an orphan of Node's with no backup
	// that committed alone (its only copy died with Node's previous
	// process). An orphan that never committed alone (Mirrored) is not
	// claimed again: the partner that mirrored it may hold every commit,
	// and takes it over.
	OpClaim
	// OpSetBackup records Backup as Bank's backup, if Node is its primary.
	OpSetBackup
	// OpDropBackup records that Bank, whose primary is Node, has no
	// backup: from then on no node may take it over, and its primary may
	// commit alone under its lease.
	OpDropBackup
	// OpTakeover makes Node, Bank's backup (or any node, while the bank
	// is Mirrored with no backup recorded), its primary with no backup and
	// the epoch raised, if the old primary's lease count is still Count
	// (no renewal since the proposer started waiting for it to expire), or
	// the bank is an orphan, or unknown (never claimed: its primary died
	// before the group heard of it, so it never committed alone).
	OpTakeover
	// OpRenew renews Node's lease (for its process Incarnation).
	OpRenew
	// OpPlace chooses the next backup of Bank, whose primary is Node, among
	// the nodes Live lists (placement.go) and records it as Target.
	OpPlace
)

var opNames = map[Op]string{OpJoin: "join", OpClaim: "claim", OpSetBackup: "set-backup",
	OpDropBackup: "drop-backup", OpTakeover: "takeover", OpRenew: "renew", OpPlace: "place"}

func (o Op) String() string {
	if n, ok := opNames[o]; ok {
		return n
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Command is one change to the state, proposed by Node.
type Command struct {
	Op     Op     `json:"op"`
	Node   string `json:"node"`
	Bank   string `json:"bank,omitempty"`
	Backup string `json:"backup,omitempty"`
	Count  uint64 `json:"count,omitempty"`
	// IfOrphan (OpTakeover): take over only an orphan, whatever Count.
	IfOrphan bool `json:"if_orphan,omitempty"`
	// Gone (OpTakeover): the proposer proved the primary's process gone
	// (gone.go), so no lease of it needs to expire: Count is not checked.
	// A takeover granted so renews the proposer's lease too (its Result
	// is a renewal's, with Bank).
	Gone bool `json:"gone,omitempty"`
	// Incarnation names the proposing process (every command a Lease
	// proposes carries it; 0: unknown): the first command of a new one
	// orphans the banks the node's previous process was primary of.
	Incarnation uint64 `json:"incarnation,omitempty"`
	Member      Member `json:"member,omitzero"`
	// Live (OpPlace) lists the nodes the proposer can reach now.
	Live []string `json:"live,omitempty"`
	// ID names one proposal across its retries (Raft.Propose draws it
	// when zero): a command whose ID Node already proposed is answered
	// with the first result, not applied again. 0: no such check.
	ID uint64 `json:"id,omitempty"`
}

// Result is what applying a command did.
type Result struct {
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"` // why it was refused
	// Alone (OpRenew) lists the banks Node is primary of with no backup,
	// as of this renewal: those its lease lets it commit alone.
	Alone []string `json:"alone,omitempty"`
	// Count (OpRenew) is Node's lease count after this renewal.
	Count uint64    `json:"count,omitempty"`
	Bank  BankState `json:"bank,omitzero"` // the bank after the command
}

func refused(format string, args ...any) Result {
	return Result{Reason: fmt.Sprintf(format, args...)}
}

// Apply applies c to s and returns what it did. A command whose condition
// does not hold changes nothing and is refused with a reason.
func (s *State) Apply(c Command) Result {
	s.Applied++
	if c.ID != 0 {
		for _, a := range s.Recent[c.Node] {
			if a.ID == c.ID {
				return a.Result
			}
		}
	}
	res := s.apply(c)
	if c.ID != 0 {
		if s.Recent == nil {
			s.Recent = map[string][]Applied{}
		}
		r := append(s.Recent[c.Node], Applied{ID: c.ID, Result: res})
		s.Recent[c.Node] = r[max(0, len(r)-recentKept):]
	}
	return res
}

// apply applies c once.
func (s *State) apply(c Command) Result {
	s.incarnate(c)
	switch c.Op {
	case OpJoin:
		s.Members[c.Member.Name] = c.Member
		return Result{OK: true}
	case OpClaim:
		return s.claim(c)
	case OpSetBackup, OpDropBackup:
		return s.setBackup(c)
	case OpTakeover:
		return s.takeover(c)
	case OpRenew:
		return s.renew(c)
	case OpPlace:
		return s.place(c)
	}
	return refused("unknown command %v", c.Op)
}

// incarnate records the incarnation of c's proposer: the first command of
// a new process of a node (a renewal, or a claim, a backup recorded ...
// before its first renewal) orphans the banks its previous process was
// primary of, so that a restarted node, whose copies are empty, never
// fences their takeover by its renewals.
func (s *State) incarnate(c Command) {
	if c.Incarnation == 0 || c.Op == OpJoin {
		return
	}
	if prev := s.Incarnations[c.Node]; prev != 0 && prev != c.Incarnation {
		for name, b := range s.Banks {
			if b.Primary == c.Node {
				b.Orphan = true
				s.Banks[name] = b
			}
		}
	}
	s.Incarnations[c.Node] = c.Incarnation
}

func (s *State) renew(c Command) Result {
	s.Leases[c.Node]++
	return Result{OK: true, Alone: s.alone(c.Node), Count: s.Leases[c.Node]}
}

func (s *State) claim(c Command) Result {
	if b, ok := s.Banks[c.Bank]; ok && !(b.Primary == c.Node && b.Orphan && b.Backup == "" && !b.Mirrored) {
		return Result{Reason: fmt.Sprintf("bank %s is held by %s", c.Bank, b.Primary), Bank: b}
	}
	b := BankState{Primary: c.Node, Epoch: s.Banks[c.Bank].Epoch + 1, Mirrored: true}
	s.Banks[c.Bank] = b
	return Result{OK: true, Bank: b}
}

func (s *State) setBackup(c Command) Result {
	b, ok := s.Banks[c.Bank]
	if !ok || b.Primary != c.Node || b.Orphan {
		return Result{Reason: fmt.Sprintf("%s is not the primary of bank %s", c.Node, c.Bank), Bank: b}
	}
	b.Backup, b.Target = "", ""
	if c.Op == OpSetBackup {
		b.Backup = c.Backup
	} else {
		b.Mirrored = false
	}
	s.Banks[c.Bank] = b
	return Result{OK: true, Bank: b}
}

func (s *State) takeover(c Command) Result {
	b, ok := s.Banks[c.Bank]
	switch {
	case !ok: // never claimed: its primary held no lease, every commit was mirrored
		b = BankState{Primary: c.Node, Epoch: 1}
		s.Banks[c.Bank] = b
		return Result{OK: true, Bank: b}
	case b.Primary == c.Node:
		return Result{OK: true, Bank: b} // already ours: a retried proposal
	case b.Backup != c.Node && !(b.Backup == "" && b.Mirrored):
		return Result{Reason: fmt.Sprintf("%s is not the backup of bank %s (backup %q)", c.Node, c.Bank, b.Backup), Bank: b}
	case !b.Orphan && !c.Gone && (c.IfOrphan || s.Leases[b.Primary] != c.Count):
		return Result{Reason: fmt.Sprintf("%s renewed its lease since (count %d, not %d)", b.Primary, s.Leases[b.Primary], c.Count),
			Bank: b, Count: s.Leases[b.Primary]}
	}
	b = BankState{Primary: c.Node, Epoch: b.Epoch + 1}
	s.Banks[c.Bank] = b
	if c.Gone { // also a renewal of the proposer's lease (gone.go)
		res := s.renew(c)
		res.Bank = b
		return res
	}
	return Result{OK: true, Bank: b}
}

// alone lists the banks node is primary of with no backup.
func (s *State) alone(node string) []string {
	var out []string
	for name, b := range s.Banks {
		if b.Primary == node && b.Backup == "" && !b.Orphan && !b.Mirrored {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func encodeCommand(c Command) ([]byte, error) { return json.Marshal(c) }

func decodeCommand(b []byte) (Command, error) {
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return Command{}, fmt.Errorf("%w: command: %w", ErrCorrupt, err)
	}
	return c, nil
}
