// Package buildinfo names the version a binary of the module reports
// (ftmctl --version, a node binary's --version).
//
// Invariants:
//   - A version stamped at link time (-ldflags -X) wins; "" and "dev" mean
//     not stamped.
//   - Otherwise the version comes from the binary's own build information:
//     the main module's version (go install m@v1.2.3), else the VCS
//     revision it was built from (12 hex digits, "-dirty" when the work
//     tree had changes), else "dev".
//   - The package reads no environment variable and prints nothing.
package buildinfo
