package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Binaries builds real program binaries once per test binary, into one
// temporary directory every test of the package shares (they are
// read-only: a test that needs a binary of its own builds it). Remove, from
// TestMain after m.Run, deletes them.
type Binaries struct {
	// Builds names each binary and the package it is built from, relative
	// to the test's package directory: {"ftmctl", "."}.
	Builds [][2]string

	once sync.Once
	dir  string
	err  error
}

// Path builds every binary on its first call and returns the path of the
// named one; a build that failed fails the test.
func (b *Binaries) Path(t testing.TB, name string) string {
	t.Helper()
	b.once.Do(b.build)
	if b.err != nil {
		t.Fatal(b.err)
	}
	return filepath.Join(b.dir, name)
}

func (b *Binaries) build() {
	b.dir, b.err = os.MkdirTemp("", "proctest-bin-")
	for _, nb := range b.Builds {
		if b.err != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(b.dir, nb[0]), nb[1]).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build %s: %w: %s", nb[1], err, out)
		}
	}
}

// Remove deletes the built binaries (none built: nothing to do).
func (b *Binaries) Remove() {
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}
