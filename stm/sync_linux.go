//go:build linux

package stm

import (
	"os"

	"syscall"
)

// syncData flushes f's data (and the metadata needed to read it) to stable
// storage: fdatasync.
func syncData(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
