package task

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/ftm-in-go/ftm/rvm"
)

// Args declares the arguments a program takes, so that a start with
// wrong ones fails at once, before anything is recorded or run. The zero
// Args accepts any arguments.
type Args struct {
	Usage string                    // the arguments' synopsis, e.g. "[N]"
	Check func(args []string) error // nil error: args are good; nil Check: any are
}

// ErrBadArgs is returned by Check and Start for arguments a program's
// declaration refuses.
var ErrBadArgs = errors.New("task: bad arguments")

// check applies the declaration of program to args: one line naming the
// program, the arguments, what is wrong and the usage.
func (a Args) check(program string, args []string) error {
	if a.Check == nil {
		return nil
	}
	err := a.Check(args)
	if err == nil {
		return nil
	}
	line := strings.TrimSpace(program + " " + strings.Join(args, " "))
	if a.Usage != "" {
		return fmt.Errorf("%w: %s: %v (usage: %s %s)", ErrBadArgs, line, err, program, a.Usage)
	}
	return fmt.Errorf("%w: %s: %v", ErrBadArgs, line, err)
}

// Check reports whether program can be started with args on this server:
// ErrUnknownProgram, or ErrBadArgs from the program's Args. Start checks
// the same first.
func (s *Server) Check(program string, args []string) error {
	if s.cfg.Programs[program] == nil {
		return fmt.Errorf("%w %q (this node runs: %v)", ErrUnknownProgram, program, s.programNames())
	}
	return s.cfg.Args[program].check(program, args)
}

// stateSegment is the segment of a WithState program's state.
const stateSegment = "state"

// WithState returns a program whose state is one value of type S, kept
// in the task's segment "state": run gets it as it was at the task's
// last checkpoint (zero on a first start) and keeps working in it, with
// no failure-handling code. S must be plain (rvm.CheckPlain: numbers,
// and arrays and structs of them): a type a checkpoint could not keep
// whole is refused here, when the program is registered, with
// rvm.ErrNotPlain naming the part of S that holds a pointer.
func WithState[S any](run func(ctx context.Context, t *Task, s *S, args []string) (string, error)) (Program, error) {
	if err := rvm.CheckPlain[S](); err != nil {
		return nil, fmt.Errorf("task: the state of a program: %w", err)
	}
	size := max(int(reflect.TypeFor[S]().Size()), 1)
	return func(ctx context.Context, t *Task, args []string) (string, error) {
		seg, err := t.Segment(ctx, stateSegment, size)
		if err != nil {
			return "", err
		}
		st, err := rvm.View[S](seg, 0)
		if err != nil {
			return "", err
		}
		return run(ctx, t, st, args)
	}, nil
}
