// Package pager is the RVM pager as a reliable server (paper: Lessons from
// FTM §4.1, §6): a task's segments (rvm.Segment) are checkpointed into STM
// page objects by recovery units of their own, in the same atomic action as
// the task's application recovery unit.
//
// The mapping: one servers.Server per segment, named
// "pager/<task>/<segment>" (UnitName); each is one recovery unit, so a
// segment's pages commit, abort and restart with its unit. The framework
// gives every server exactly one unit, so "one server with several units" is
// not available; one server per segment is the honest mapping, and it costs
// one port and one unit record per segment.
//
// A checkpoint (Pager.Checkpoint, the task stopped at a safe point):
//
//  1. rvm.Checkpoint finds each segment's dirty pages (rvm.Tracker) and hands
//     them to the pager's store, which sends them to the segment's unit in
//     an Update call ("save") made by the task's application Client: the app
//     RU becomes a predecessor of every segment RU it saved into. The page
//     images are lent, not encoded (handoff.go): the segment servers run in
//     the task's process, so the request names pages the pager filed and
//     the server takes them from there; a server in another process refuses
//     (errNotLent) and gets them inline, at most Options.ChunkPages pages
//     per call;
//  2. the Client's Checkpoint commits the app RU and those segment RUs as one
//     atomic action: when a segment unit precommits, its server writes the
//     pages received in this RU as STM page objects in the transaction that
//     precommits its state into the action's group (servers.SetPrecommitWrites),
//     so the pages commit iff the whole action commits;
//  3. only if the checkpoint committed are the pages clean in the segments; on
//     any error they stay dirty for the next checkpoint.
//
// A page object is 4 bytes of CRC-32C (over the unit name, the page index
// and the image) followed by the page image; its STM id is allocated by STM
// (no fixed ids to collide with) and kept in the segment server's state with
// the segment's geometry. Restore (Pager.Restore, after a restart from the
// same bank or a takeover of the backup bank) reads the pages back through
// the segment's unit ("load", a Read of unmodified state: no dependency),
// checks every checksum (rvm.ErrCorruptPage) and fills the segment
// byte-identical to the last committed checkpoint.
//
// Restore refuses (ErrUnsettled, retried for Options.Settle) while a
// segment's unit holds saves of an RU that has not ended: after a crash of
// the task alone, the abort wave of its RU rolls them back first.
//
// Limits: a group a takeover finds in doubt is handled as for any reliable
// server (SERVERS.md, "In-doubt groups after a takeover"), but the tests
// take the bank over only after a checkpoint's action ended; a
// load's reply (page images) stays in the unit's duplicate table until the
// same client's next call; each checkpoint costs a save call per dirty
// segment and the call path's write-ahead unit saves (BENCH.md).
//
// Its user is the stable task (package task): a recovery-unit task
// starts a Server per segment on its bank's driver, adds segments to its
// Pager as it maps them (Add) and commits captured pages through Store
// (the task copies dirty pages at a safe point and commits them in the
// background). The task's last action is Drop: each segment's unit
// deletes its page objects when the action precommits, and SetFinal lets
// the task write its end record in that transaction, so the end and the
// drop commit together. ReadCommitted reads a segment's committed pages from
// the bank with no server running (a bank that refuses commits has no
// driver; pages of a group still in doubt are not in it). FPSavesSent is
// the pager's failpoint, between the saves and the atomic action.
//
// Page size is the segment's (rvm.Config.PageSize, 8 KiB default); the
// segment server is configured with the same size and refuses others.
package pager
