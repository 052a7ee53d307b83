// Package names is the name service of reliable servers: a persistent port
// is a stable string name that survives crashes; the server that owns it
// re-binds it to its current kernel port after every restart, and clients
// resolve the name again (and retry) when the port they held died.
//
// Service is the interface the servers package uses; Kernel is the one
// embedded implementation, built on the kernel's bootstrap registry
// (Task.Register / Task.Lookup, which netmsg answers across nodes): a name
// is registered on the owner's node, and Resolve asks this node first and
// then every peer it has a link to.
//
// Concurrency: a Kernel is safe for concurrent use (mu guards the cache).
package names
