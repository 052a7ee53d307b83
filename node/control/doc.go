// Package control is what a node and the programs that drive it (ftmctl)
// share: the pair's directory (DIR/pair.json, DIR/secret), the token every
// control request carries, and the JSON messages of the control socket
// DIR/NODE.sock. It holds no behaviour of either side: the node serves
// these messages (package node), ftmctl sends them.
//
// Invariants:
//   - A message type here is the wire format: its JSON field names are what
//     a running node answers, so a field is added, never renamed.
//   - The token of a node is HMAC-SHA256(secret, "ftmctl control\x00" +
//     node): a proof of the pair's secret bound to one node.
//   - pair.json is written whole (temporary file, then rename): a reader
//     sees the old state or the new one.
//   - The package reads no environment variable and prints nothing; the
//     default directory's FTM_DIR override is ftmctl's.
package control
