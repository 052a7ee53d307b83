// Package stmtest is the test kit for packages built on stm: a primary bank
// mirrored to an in-process backup (Mirrored), the bank a takeover leaves
// (Takeover, Survivor), and a bank mirrored to a backup in another process
// over kernel/link (DialBank, ServeOne).
//
// Invariants:
//   - A bank the kit returns can commit: it has a backup attached, except
//     the bare result of Takeover, which is the survivor before anyone
//     re-protects it (as after a real takeover).
//   - Banks cross processes on the link's Mux channel for link.ServiceSTM,
//     the channel a pair's nodes use, never on a raw link.
//   - The kit fails the test through testing.TB on set-up errors and
//     returns them from the functions child processes call (which have no
//     testing.TB); it never prints, exits or reads the environment.
//
// stm's own tests cannot import the kit (it imports stm); they keep their
// in-package twins in stm/helpers_test.go.
package stmtest
