package publish

import "errors"

// Errors of the publish package. Calls wrap them with context.
var (
	// ErrNotPublished: the bank holds no record of the task.
	ErrNotPublished = errors.New("publish: no such published task")
	// ErrExists: Start was asked for a task the bank already records.
	ErrExists = errors.New("publish: task already published")
	// ErrBadSpec: a Spec without a name or a constructor.
	ErrBadSpec = errors.New("publish: bad spec")
	// ErrCrashLoop: the task crashed Config.CrashLimit times in a row at
	// the same message, a deterministic failure; it is not restarted.
	ErrCrashLoop = errors.New("publish: task crashes at the same message every time")
	// ErrDiverged: a replay produced outputs other than the original run's.
	ErrDiverged = errors.New("publish: replay diverged")
)
