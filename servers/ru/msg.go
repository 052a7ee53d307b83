package ru

import (
	"fmt"
	"sort"
	"strings"
)

// Kind is a protocol message kind.
type Kind uint8

const (
	MsgBuild        Kind = iota // build_atomic_action wave, parent → predecessor
	MsgBuildReply               // positive or negative acknowledgment of Build
	MsgAuthRq                   // authorization request (chasing, Figure 8)
	MsgAuthReply                // serve or defer
	MsgDone                     // a served call ended; carries new predecessors
	MsgDoneAck                  //
	MsgMerge                    // Subject and Target must become one action (Figures 9, 10)
	MsgAddDep                   // joiner asks the winner to adopt it (add_dependency)
	MsgAdopted                  // winner adopted the joiner
	MsgResolved                 // Subject ended with Outcome; stop waiting for it
	MsgPrecommit                // phase 2 wave
	MsgPrecommitAck             // positive (OK) or negative acknowledgment
	MsgDecision                 // commit, abort or cancel wave
	MsgQuery                    // a waiting member asks its parent for the decision
	MsgAbort                    // crash-recovery wave over successors
	MsgAbortAck                 //
)

var kindNames = [...]string{"build", "build-reply", "auth-rq", "auth-reply", "done", "done-ack",
	"merge", "add-dep", "adopted", "resolved", "precommit", "precommit-ack", "decision",
	"query", "abort", "abort-ack"}

func (k Kind) String() string { return kindNames[k] }

// Reply is the status in a BuildReply, AuthReply or PrecommitAck.
type Reply uint8

const (
	ReplyOK         Reply = iota // joined and subtree complete / serve / precommitted
	ReplyFailed                  // subtree failed: cancel the action
	ReplySame                    // already in this action through another node
	ReplyInAction                // in another action (InAction): merge needed
	ReplyCommitted               // the RU already committed: no dependency left
	ReplyAborted                 // the RU aborted: the action must fail
	ReplyDefer                   // authorization refused until the action ends
	ReplyThreePhase              // two-phase build refused: not joined, run the three phases
)

var replyNames = [...]string{"ok", "failed", "same", "in-action", "committed", "aborted", "defer", "three-phase"}

func (r Reply) String() string { return replyNames[r] }

// Msg is one protocol message between recovery units. Host-level batching
// (§6.5) packs several Msgs for units of one host into one Envelope.
type Msg struct {
	Kind     Kind
	From, To ID
	Action   Action // the action the message is about (the receiver's view)
	Reply    Reply
	Outcome  Outcome
	InAction Action   // ReplyInAction: the action the sender belongs to
	Subject  Action   // Merge, Resolved, AddDep: the action being unified
	Target   Action   // Merge: the action Subject must unify with
	Touched  []Action // BuildReply, AddDep: actions this subtree touched
	Absorbed []Action // BuildReply, AddDep: actions merged into this subtree
	Preds    []ID     // Done: predecessors added during the served call
	Call     uint64   // AuthRq, AuthReply, Done: call id
	Origin   ID       // AuthRq, Done, AddDep: the unit that started a forwarded request
	Fwd      bool     // Merge, AddDep, AuthRq: forwarded beyond the first hop
	Via      Action   // forwarded: the action the receiving hop must still be in
	// TwoPhase (§8.2.1): on Build, precommit at once if you can; on a
	// BuildReply ok, the sender precommitted at once.
	TwoPhase bool
}

func (m Msg) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s→%s %s %s", m.From, m.To, m.Kind, m.Action)
	switch m.Kind {
	case MsgBuildReply, MsgAuthReply, MsgPrecommitAck:
		fmt.Fprintf(&b, " %s", m.Reply)
	case MsgDecision, MsgResolved:
		fmt.Fprintf(&b, " %s", m.Outcome)
	}
	if !m.InAction.IsZero() {
		fmt.Fprintf(&b, " in=%s", m.InAction)
	}
	if !m.Subject.IsZero() {
		fmt.Fprintf(&b, " subject=%s", m.Subject)
	}
	if !m.Target.IsZero() {
		fmt.Fprintf(&b, " target=%s", m.Target)
	}
	writeActions(&b, "touched", m.Touched)
	writeActions(&b, "absorbed", m.Absorbed)
	if len(m.Preds) > 0 {
		fmt.Fprintf(&b, " preds=%v", m.Preds)
	}
	if m.Fwd {
		b.WriteString(" fwd")
	}
	if m.TwoPhase {
		b.WriteString(" two-phase")
	}
	return b.String()
}

func writeActions(b *strings.Builder, name string, as []Action) {
	if len(as) == 0 {
		return
	}
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	fmt.Fprintf(b, " %s=[%s]", name, strings.Join(s, " "))
}

// actionSet is a small set of actions with a deterministic listing.
type actionSet map[Action]bool

func (s actionSet) list() []Action {
	out := make([]Action, 0, len(s))
	for a := range s {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

func (s actionSet) addAll(as []Action) {
	for _, a := range as {
		s[a] = true
	}
}

// idSet is a small set of IDs with a deterministic listing.
type idSet map[ID]bool

func (s idSet) list() []ID {
	out := make([]ID, 0, len(s))
	for a := range s {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}
