package publish

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel"
)

func numbers(n int) []Input {
	in := make([]Input, n)
	for i := range in {
		in[i] = Input{Sender: 1, Body: binary.BigEndian.AppendUint64(nil, uint64(i+1)),
			At: time.Unix(1000+int64(i), 0)}
	}
	return in
}

// The adder depends only on its messages and Env: its replays match.
func TestVerifyReplayAcceptsDeterministicMachine(t *testing.T) {
	require.NoError(t, VerifyReplay(adderSpec("", nil), numbers(12)))
}

// wallClock stamps its outputs with the global random source: a replay
// sends other messages.
type wallClock struct{ adder }

func (w *wallClock) Handle(env *Env, m *kernel.Message) error {
	body := fmt.Sprint(rand.Uint64())
	return env.Send(&kernel.Message{Dest: env.Peer("sink"), Body: []byte(body)})
}

// forgetful keeps a counter its snapshot leaves out: a replay from a
// checkpoint starts it over.
type forgetful struct {
	adder
	seen int
}

func (f *forgetful) Handle(env *Env, m *kernel.Message) error {
	f.seen++
	return env.Send(&kernel.Message{Dest: env.Peer("sink"), Body: []byte(fmt.Sprint(f.seen))})
}

// A machine that reads a source other than its Env, or keeps state out
// of its snapshot, is refused with ErrDiverged. Reference:
// publishing.txt §2.3 ("processes are assumed to be deterministic
// between interactions").
func TestVerifyReplayRefusesNondeterminism(t *testing.T) {
	for name, mk := range map[string]func() Machine{
		"global random source":       func() Machine { return &wallClock{} },
		"state outside its snapshot": func() Machine { return &forgetful{} },
	} {
		t.Run(name, func(t *testing.T) {
			err := VerifyReplay(Spec{Name: "x", New: mk}, numbers(5))
			require.ErrorIs(t, err, ErrDiverged)
		})
	}
}

// Env's clock and random source are functions of the message: the same
// in every replay, different from one message to the next.
func TestEnvClockAndRandAreReplayable(t *testing.T) {
	var seen []string
	spec := Spec{Name: "x", Seed: 3, New: func() Machine { return &recorderMachine{seen: &seen} }}
	in := numbers(3)
	_, _, err := offlineRun(spec, nil, entriesOf(in))
	require.NoError(t, err)
	first := append([]string(nil), seen...)
	seen = seen[:0]
	_, _, err = offlineRun(spec, nil, entriesOf(in))
	require.NoError(t, err)
	require.Equal(t, first, seen)
	require.NotEqual(t, first[0], first[1])
	require.Contains(t, first[0], time.Unix(1000, 0).UTC().String())
}

type recorderMachine struct {
	adder
	seen *[]string
}

func (r *recorderMachine) Handle(env *Env, _ *kernel.Message) error {
	*r.seen = append(*r.seen, fmt.Sprintf("%s %d", env.Now().UTC(), env.Rand().Uint64()))
	return nil
}

func entriesOf(in []Input) []Entry {
	es := make([]Entry, len(in))
	for i, x := range in {
		es[i] = Entry{Index: uint64(i), At: x.At.UnixNano(), Body: x.Body}
	}
	return es
}
