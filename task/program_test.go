package task

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/rvm"
)

// tally is a WithState program's state: plain numbers.
type tally struct{ I, Sum int64 }

// errStop stands for a crash after a checkpoint.
var errStop = errors.New("stopped")

// A WithState program finds its state as it was at the last checkpoint
// when started again, and goes on from there.
func TestWithStateResumesFromCheckpoint(t *testing.T) {
	crashAt := int64(40)
	prog, err := WithState(func(ctx context.Context, t *Task, s *tally, args []string) (string, error) {
		for s.I < 100 {
			s.I++
			s.Sum += s.I
			if s.I == crashAt {
				if err := t.Checkpoint(ctx); err != nil {
					return "", err
				}
				return "", errStop
			}
		}
		return fmt.Sprint(s.Sum), nil
	})
	require.NoError(t, err)
	store := rvm.NewMemStore()
	cfg := Config{Name: "count", Store: store}
	var out string
	entry := func(ctx context.Context, t *Task) (err error) {
		out, err = prog(ctx, t, nil)
		return err
	}
	_, err = Run(context.Background(), cfg, entry)
	require.ErrorIs(t, err, errStop)
	crashAt = 0
	st, err := Run(context.Background(), cfg, entry)
	require.NoError(t, err)
	require.True(t, st.Restored)
	require.Equal(t, "5050", out)
}

// A program whose state could not be checkpointed whole is refused when
// it is registered.
func TestWithStateRefusesPointers(t *testing.T) {
	type sim struct {
		Step  int
		Names []string
	}
	_, err := WithState(func(context.Context, *Task, *sim, []string) (string, error) { return "", nil })
	require.ErrorIs(t, err, rvm.ErrNotPlain)
	require.ErrorContains(t, err, "Names is a []string")
}

// Check refuses an unknown program and arguments its declaration refuses;
// a program without a declaration takes any.
func TestCheckArgs(t *testing.T) {
	s := NewServer(context.Background(), ServerConfig{Programs: map[string]Program{"sum": sum, "any": sum},
		Args: map[string]Args{"sum": {Usage: "N", Check: func(a []string) error {
			if len(a) != 1 {
				return errors.New("one argument")
			}
			return nil
		}}}})
	require.ErrorIs(t, s.Check("nope", nil), ErrUnknownProgram)
	require.EqualError(t, s.Check("sum", nil), "task: bad arguments: sum: one argument (usage: sum N)")
	require.NoError(t, s.Check("sum", []string{"5"}))
	require.NoError(t, s.Check("any", []string{"x", "y"}))
}
