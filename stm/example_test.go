package stm_test

import (
	"context"
	"fmt"

	"github.com/ftm-in-go/ftm/stm"
)

type counter struct {
	Name  string
	Count int
}

// A primary bank mirrored to an in-process backup bank: a typed object, a
// page, a group, and a takeover.
func Example() {
	ctx := context.Background()
	primary := stm.NewBank(stm.Config{})
	backup := stm.NewBackup(stm.BackupConfig{})
	if err := primary.Attach(ctx, stm.NewLocalMirror(backup)); err != nil {
		panic(err)
	}

	hits := stm.Var[counter]{ID: 1} // a well-known id below stm.FirstAllocatedID
	var page stm.ID
	err := primary.Update(ctx, func(tx *stm.Tx) error {
		if err := hits.Set(tx, counter{Name: "hits", Count: 1}); err != nil {
			return err
		}
		var err error
		page, err = tx.Create(make([]byte, 8192)) // the bank owns the slice now
		return err
	})
	fmt.Println("commit:", err)

	// Two transactions that commit or abort together (a checkpoint's atomic action).
	t1, t2 := primary.Begin(), primary.Begin()
	c, _ := hits.Get(t1)
	c.Count++
	_ = hits.Set(t1, c)
	_ = t2.WriteAt(page, 100, []byte("dirty"))
	_ = t1.Precommit(ctx, 42) // phase 1: shipped to the backup, now in phase 2
	_ = t2.Precommit(ctx, 42)
	fmt.Println("decide:", primary.Decide(ctx, 42, true)) // phase 3 on both banks

	// The primary dies; the backup takes over with the next epoch.
	_ = primary.Close()
	survivor, report, _ := backup.Takeover(ctx, stm.Config{})
	_ = survivor.View(ctx, func(tx *stm.Tx) error {
		c, _ := hits.Get(tx)
		buf := make([]byte, 5)
		_ = tx.ReadAt(page, 100, buf)
		fmt.Println(c.Count, string(buf), "epoch", report.Epoch)
		return nil
	})
	// Output:
	// commit: <nil>
	// decide: <nil>
	// 2 dirty epoch 2
}
