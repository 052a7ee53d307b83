package stm

import (
	"context"
	"errors"
	"sync"
)

// Tee is a Mirror that sends every call to all of ms at once (a remote
// backup bank and a FileMirror, say) and succeeds only if all succeed. When
// one fails the others may have applied the call: the primary then treats
// the mirror as broken and a new Attach re-copies everything.
func Tee(ms ...Mirror) Mirror { return &teeMirror{ms: ms} }

// teeMirror is a pointer type so Mirrors stay comparable.
type teeMirror struct{ ms []Mirror }

func (t *teeMirror) each(f func(m Mirror) error) error {
	if len(t.ms) == 1 {
		return f(t.ms[0])
	}
	errs := make([]error, len(t.ms))
	var wg sync.WaitGroup
	for i, m := range t.ms {
		wg.Go(func() { errs[i] = f(m) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (t *teeMirror) Prepare(ctx context.Context, p *Prepare) error {
	return t.each(func(m Mirror) error { return m.Prepare(ctx, p) })
}

func (t *teeMirror) Decide(ctx context.Context, d *Decision) error {
	return t.each(func(m Mirror) error { return m.Decide(ctx, d) })
}

func (t *teeMirror) Load(ctx context.Context, c *Chunk) error {
	return t.each(func(m Mirror) error { return m.Load(ctx, c) })
}

func (t *teeMirror) Close() error {
	return t.each(func(m Mirror) error { return m.Close() })
}
