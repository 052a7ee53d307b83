// Package takeoverid names one takeover in a node's log: the partner's
// death detected, its banks taken over, its stable tasks resumed and its
// reliable servers answering again each log the same short id in the
// field "takeover_id", so `ftmctl logs --takeover ID` (or jq
// 'select(.takeover_id=="ID")') shows that story alone.
//
// Invariants:
//   - An id is 8 hex digits derived from the dead peer's name and the time
//     its death was declared: the same death gives the same id.
//   - The id travels in a context (With, FromContext); Field of a context
//     without one is zap.Skip(), so a line logged outside a takeover
//     carries no "takeover_id" field at all.
//   - The package reads no environment variable, prints nothing and keeps
//     no state.
package takeoverid
