// Package kerneltest is the test kit for packages built on the kernel:
// kernel nodes joined by an in-memory link (LinkedNodes), as the tests of
// servers across two nodes set them up.
//
// Invariants:
//   - Every node the kit makes is shut down by t.Cleanup when the test
//     ends.
//   - Nodes are joined on kernel/link's in-memory pair with its defaults
//     (no loss, no delay): a test that needs faults builds its own link.
//   - The kit fails the test through testing.TB; it never prints, exits or
//     reads the environment.
//
// The kernel's own tests cannot import the kit (it imports kernel); they
// keep their in-package twin, linkedNodes, in kernel/netmsg_test.go.
package kerneltest
