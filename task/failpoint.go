package task

// Failpoints of a task's checkpoint commit (Config.Failpoint,
// ServerConfig.Failpoint). The subject is the task's name (a server's:
// "bank/id"). An error from the hook fails that commit, as a crash of the
// task there would stop it: Run returns the error, the store holding the
// checkpoint before (at FPCheckpointSave) or this one (at
// FPCheckpointSaved), from which the next Run resumes; a Server records the
// task failed, as for any failed commit. A binary's hook
// (internal/failpoint) never returns an error: it kills or stalls the
// process there.
const (
	// FPCheckpointSave: a stable task's pages are copied and about to be
	// committed to its store.
	FPCheckpointSave = "task.checkpoint.save"
	// FPCheckpointSaved: that commit was acknowledged.
	FPCheckpointSaved = "task.checkpoint.saved"
	// FPRecordEnd: a task server's task ended and its last checkpoint
	// committed; its end is about to be recorded in the task table (for a
	// recovery-unit task it already is, with that checkpoint). An error
	// from the hook stops the server there: nothing is recorded or listed.
	FPRecordEnd = "task.end.record"
)
