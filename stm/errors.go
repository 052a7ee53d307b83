package stm

import "errors"

// Errors returned by the stm package. Callers check them with errors.Is.
var (
	// ErrConflict: another transaction holds the object (write-write), or an
	// object read by this transaction changed or is being written before it
	// committed. The transaction is aborted; retry it from the start.
	ErrConflict = errors.New("stm: conflict with a concurrent transaction; retry")
	// ErrNotFound: no committed object (and no version in this transaction)
	// has that id.
	ErrNotFound = errors.New("stm: no such object")
	// ErrExists: Create at an id that already holds an object.
	ErrExists = errors.New("stm: object already exists")
	// ErrTxDone: the transaction already committed, aborted or precommitted.
	ErrTxDone = errors.New("stm: transaction already finished")
	// ErrReadOnly: a write inside View.
	ErrReadOnly = errors.New("stm: write in a read-only transaction")
	// ErrAborted: the transaction (or its group) was aborted.
	ErrAborted = errors.New("stm: transaction aborted")
	// ErrNoBackup: the backup bank cannot be reached (or none is attached),
	// so the commit is refused and the transaction aborted; attach a backup.
	ErrNoBackup = errors.New("stm: backup bank unreachable; commit refused")
	// ErrBackupLost: a group commit decision was applied on the primary but
	// could not be propagated to the backup (it died); the primary holds the
	// only copy until a new backup is attached.
	ErrBackupLost = errors.New("stm: decision applied on the primary only; backup unreachable")
	// ErrFenced: a bank with a newer epoch took over; this (stale) primary
	// may no longer commit.
	ErrFenced = errors.New("stm: stale epoch; a takeover superseded this bank")
	// ErrCrashed: the bank stopped at a failpoint (a simulated machine crash)
	// or was closed; it accepts no further work.
	ErrCrashed = errors.New("stm: bank has crashed or is closed")
	// ErrNotReady: the backup bank has not yet received a full copy, so it
	// cannot take over.
	ErrNotReady = errors.New("stm: backup bank has no complete copy; cannot take over")
	// ErrGroupDecided: the group was already decided; no new member may join.
	ErrGroupDecided = errors.New("stm: group already decided")
	// ErrCorrupt: a mirror stream or log record failed its checksum or did
	// not decode; it was discarded, never applied.
	ErrCorrupt = errors.New("stm: corrupt stream or log (checksum mismatch)")
	// ErrBadRange: a byte range outside the object.
	ErrBadRange = errors.New("stm: byte range outside the object")
)

func isFenced(err error) bool  { return errors.Is(err, ErrFenced) }
func isCorrupt(err error) bool { return errors.Is(err, ErrCorrupt) }
