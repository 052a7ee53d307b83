package publish

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/ftm-in-go/ftm/kernel"
)

// Input is one message of a run VerifyReplay checks.
type Input struct {
	ID     uint32
	Sender uint64 // Message.RU
	Body   []byte
	At     time.Time // the receive time the machine's Env.Now reports
}

// output is one message a machine sent: to which name, and what.
type output struct {
	dest kernel.Name
	id   uint32
	body []byte
}

func (o output) String() string { return fmt.Sprintf("to %d id %d %q", o.dest, o.id, o.body) }

// VerifyReplay checks what Publishing requires of spec's machine: that it
// depends only on its messages and keeps all its state in its snapshot.
// It runs a fresh machine over inputs, snapshotting after each; then, for
// every k, restores a new machine from the snapshot after k inputs and
// feeds it the rest. Each run must send exactly the original run's
// messages from there on, else ErrDiverged says where. Peers are given
// the names 1, 2, ... in the order the machine asks for them.
func VerifyReplay(spec Spec, inputs []Input) error {
	entries := make([]Entry, len(inputs))
	for i, in := range inputs {
		entries[i] = Entry{Index: uint64(i), RU: in.Sender, At: in.At.UnixNano(), ID: in.ID, Body: in.Body}
	}
	want, snaps, err := offlineRun(spec, nil, entries)
	if err != nil {
		return err
	}
	for k := range entries {
		got, _, err := offlineRun(spec, snaps[k].state, entries[k:])
		if err != nil {
			return err
		}
		if err := sameOutputs(want[snaps[k].sent:], got); err != nil {
			return fmt.Errorf("%w: replayed from the checkpoint after %d inputs: %w", ErrDiverged, k, err)
		}
	}
	return nil
}

// snap is a machine's state before an input, and what it had sent by then.
type snap struct {
	state []byte
	sent  int
}

// offlineRun feeds entries to a machine of spec restored from state and
// returns what it sent, and its snapshot before each entry.
func offlineRun(spec Spec, state []byte, entries []Entry) ([]output, []snap, error) {
	var outs []output
	p := &Published{spec: spec, id: senderID(spec.Name), peers: offlinePeers{}}
	p.capture = func(m *kernel.Message) {
		outs = append(outs, output{dest: m.Dest, id: m.ID, body: bytes.Clone(m.Body)})
	}
	mach := spec.New()
	if err := mach.Restore(state); err != nil {
		return nil, nil, err
	}
	snaps := make([]snap, 0, len(entries))
	for i := range entries {
		st, err := mach.Snapshot()
		if err != nil {
			return nil, nil, err
		}
		snaps = append(snaps, snap{state: st, sent: len(outs)})
		m := entries[i].message()
		if err := mach.Handle(&Env{ctx: context.Background(), p: p, e: &entries[i], live: true}, m); err != nil {
			return nil, nil, fmt.Errorf("input %d: %w", i, err)
		}
	}
	return outs, snaps, nil
}

// sameOutputs says where got differs from want.
func sameOutputs(want, got []output) error {
	for i := range min(len(want), len(got)) {
		if want[i].dest != got[i].dest || want[i].id != got[i].id || !bytes.Equal(want[i].body, got[i].body) {
			return fmt.Errorf("message %d: sent %v, originally %v", i, got[i], want[i])
		}
	}
	if len(want) != len(got) {
		return fmt.Errorf("sent %d messages, originally %d", len(got), len(want))
	}
	return nil
}
