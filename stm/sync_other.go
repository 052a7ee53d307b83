//go:build !linux

package stm

import "os"

// syncData flushes f to stable storage (fsync where fdatasync is missing).
func syncData(f *os.File) error { return f.Sync() }
