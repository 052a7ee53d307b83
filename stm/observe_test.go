package stm

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// observed records what a bank's OnCommit and OnAttach hooks were told.
type observed struct {
	mu       sync.Mutex
	commits  []error
	attaches []error
}

func (o *observed) config() Config {
	return Config{
		OnCommit: func(_ *Bank, d time.Duration, err error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			if d <= 0 {
				err = errors.New("non-positive duration")
			}
			o.commits = append(o.commits, err)
		},
		OnAttach: func(_ *Bank, _ time.Duration, err error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.attaches = append(o.attaches, err)
		},
	}
}

// TestObserverSeesCommitsAttachesAndRefusals: every commit that writes is
// reported once with its outcome, a read-only one is not, and a commit
// refused for want of a backup is reported with ErrNoBackup.
func TestObserverSeesCommitsAttachesAndRefusals(t *testing.T) {
	var o observed
	p := newPair(t, o.config(), BackupConfig{})
	put(t, p.b, FirstAllocatedID, "a")
	put(t, p.b, FirstAllocatedID, "b")
	if err := p.b.View(context.Background(), func(tx *Tx) error { _, err := tx.Bytes(FirstAllocatedID); return err }); err != nil {
		t.Fatal(err)
	}
	p.lm.Cut()
	err := p.b.Update(context.Background(), func(tx *Tx) error { return tx.Put(FirstAllocatedID, []byte("c")) })
	if !errors.Is(err, ErrNoBackup) {
		t.Fatalf("commit with the mirror cut: %v, want ErrNoBackup", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.attaches) != 1 || o.attaches[0] != nil {
		t.Fatalf("attaches observed: %v, want one success", o.attaches)
	}
	if len(o.commits) != 3 || o.commits[0] != nil || o.commits[1] != nil || !errors.Is(o.commits[2], ErrNoBackup) {
		t.Fatalf("commits observed: %v, want two successes and one ErrNoBackup", o.commits)
	}
}
