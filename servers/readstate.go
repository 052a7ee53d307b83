package servers

import (
	"context"
	"errors"

	"github.com/ftm-in-go/ftm/stm"
)

// ReadState returns the state S of the server name as last committed in
// bank, without running the server (found is false when it never
// committed one). It is for reading a unit's state while no driver runs
// it (a bank that refuses commits): the S of a checkpoint group still in
// doubt is not in it.
func ReadState[S any](ctx context.Context, bank *stm.Bank, name string) (st S, found bool, err error) {
	err = bank.View(ctx, func(tx *stm.Tx) error {
		id, ok, err := stableNames.Lookup(tx, stateName(name))
		if err != nil || !ok {
			return err
		}
		b, err := tx.Bytes(id)
		if errors.Is(err, stm.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		s, err := decodeAny[stable[S]](b)
		if err != nil {
			return err
		}
		st, found = s.State, true
		return nil
	})
	return st, found, err
}
