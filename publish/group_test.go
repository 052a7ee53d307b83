package publish

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/failpoint"
)

// front doubles each number it receives and tells back.
type front struct{ adder }

func (f *front) Handle(env *Env, m *kernel.Message) error {
	v := binary.BigEndian.Uint64(m.Body)
	return env.Tell("back", &kernel.Message{Body: binary.BigEndian.AppendUint64(nil, 2*v)})
}

// back adds what front tells it and reports the sum to the sink; fp may
// crash it before its send.
type back struct {
	adder
	fp failpoint.Hook
}

func (b *back) Handle(env *Env, m *kernel.Message) error {
	b.N++
	b.Sum += binary.BigEndian.Uint64(m.Body)
	if b.fp.Fires("group.back", "") {
		panic("back crashed")
	}
	return env.Send(&kernel.Message{Dest: env.Peer("sink"), Body: []byte(fmt.Sprintf("n=%d sum=%d", b.N, b.Sum))})
}

func pipelineSpec(home string, fp failpoint.Hook) Spec {
	spec := adderSpec(home, nil)
	spec.Name = "pipeline"
	spec.New = GroupSpec{
		Members: map[string]func() Machine{
			"front": func() Machine { return &front{} },
			"back":  func() Machine { return &back{fp: fp} },
		},
		Route: func(*kernel.Message) string { return "front" },
	}.New
	return spec
}

// A group of two machines published as one task: a crash of one member
// recovers both from their common checkpoint, the sink receives exactly
// the messages of a run without the crash, and the messages between the
// members are not recorded. Reference: publishing.txt §6.2.
func TestGroupRecoversAsOneUnit(t *testing.T) {
	run := func(fp failpoint.Hook) ([]string, *Published, *world) {
		w := newWorld(t, "n", fp, Rule{MinBytes: 150})
		p, err := w.mgr.Start(ctxT(t), pipelineSpec("n", fp))
		require.NoError(t, err)
		w.feed("pipeline", 1, inputs)
		return w.collect(inputs), p, w
	}
	want, _, _ := run(nil)
	got, p, w := run(failpoint.Nth("group.back", "", 11))
	require.Equal(t, want, got)
	require.Equal(t, 1, w.mgr.Crashes())
	require.Positive(t, p.Stats().Replayed)
	rec, err := p.st.load(context.Background())
	require.NoError(t, err)
	require.Equal(t, uint64(inputs), rec.head.Next, "only the messages the group received are logged")
}

// Tell is for the members of a group only.
func TestTellOutsideAGroupFails(t *testing.T) {
	env := &Env{}
	require.ErrorIs(t, env.Tell("x", &kernel.Message{}), ErrBadSpec)
}
