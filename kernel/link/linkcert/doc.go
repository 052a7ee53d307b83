// Package linkcert makes and loads the certificates of a cluster's node
// links (package link's TLS): one certificate authority per cluster and one
// certificate per node, signed by it, naming the node (common name and DNS
// name) and good for both ends of a link (server and client
// authentication). `ftmctl pair up` calls Create on its state directory; a
// deployment of its own calls it the same way, or brings certificates from
// its own CA in the same files.
//
// Layout, under DIR/tls: ca.crt and ca.key (the authority: keep ca.key
// where only the operator reads it), NAME.crt and NAME.key per node. Keys
// are ECDSA P-256, in PEM (PKCS #8); certificates PEM.
//
// Invariants: every file Create writes has mode 0600 and DIR/tls mode
// 0700; a file is written whole (a temporary file, then a rename), so a
// reader sees it complete or not at all; Create never replaces a file that
// exists, so calling it again (for a node added later) keeps the authority
// and the certificates already issued. The package reads no environment
// variable and prints nothing.
package linkcert
