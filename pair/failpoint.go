package pair

// Failpoints of a Stable (StableConfig.Failpoint), besides stm's own at the
// banks and backups it makes. The subject is the bank's name.
//
// An error from the hook abandons the step there, as if this member had
// died at it: at FPAttachBegin the attach attempt fails (and is retried as
// any failed attach); at a takeover point the takeover stops, the
// partner's bank is not held by this member (a bank already promoted is
// closed) and OnTakeover is not called. A binary's hook (internal/failpoint)
// never returns an error: it kills or stalls the process there.
const (
	// FPTakeoverBegin: the partner was declared dead; its bank is about to
	// be taken over.
	FPTakeoverBegin = "pair.takeover.begin"
	// FPTakeoverTaken: the backup bank became a primary; in-doubt groups are
	// not resolved yet and the partner's tasks not restarted.
	FPTakeoverTaken = "pair.takeover.taken"
	// FPTakeoverResolved: in-doubt groups resolved and the bank held; the
	// partner's tasks are about to be restarted (OnTakeover).
	FPTakeoverResolved = "pair.takeover.resolved"
	// FPAttachBegin: a bank's full copy is about to be streamed to the
	// partner (re-protection).
	FPAttachBegin = "pair.attach.begin"
	// FPProtectPlaced (cluster): the group recorded a bank's next backup
	// (its Target); the copy has not started.
	FPProtectPlaced = "pair.protect.placed"
	// FPAttachCopied: the full copy is complete and commits are mirrored;
	// the backup is not yet recorded in the group. An error here breaks
	// the mirror, as the backup's death would.
	FPAttachCopied = "pair.attach.copied"
)
