package files

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
)

// Failpoint names, in the order WriteAtomic reaches them.
var Failpoints = []string{
	"files.save.created", "files.save.half", "files.save.written", "files.save.synced",
	"files.save.closed", "files.save.renamed", "files.save.dirsynced",
}

// tempPrefix names the temporary files of a save of base.
func tempPrefix(base string) string { return "." + base + ".ftmsave-" }

// WriteAtomic replaces path's content with data so that a crash at any
// moment leaves the old content or the new, never a mix: a temporary file
// in the same directory, written and fsynced, renamed over path, then the
// directory fsynced so the rename itself survives a power loss. The file
// keeps its permission bits (0644 for a new file). hook is called at each
// of Failpoints with subject path; an error stops the save there (a test
// hook may also kill the process). Nil in production.
func WriteAtomic(path string, data []byte, hook failpoint.Hook) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	f, err := os.CreateTemp(dir, tempPrefix(base)+"*")
	if err != nil {
		return fmt.Errorf("files: save %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err = writeSynced(f, data, mode, stepHook{hook, path}); err != nil {
		return fmt.Errorf("files: save %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("files: save %s: %w", path, err)
	}
	if err := hook.At("files.save.renamed", path); err != nil {
		return err // the new content is in place; nothing to remove
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("files: save %s: sync directory: %w", path, err)
	}
	return hook.At("files.save.dirsynced", path)
}

// stepHook is the failpoint hook of one save, with its subject.
type stepHook struct {
	hook failpoint.Hook
	path string
}

func (s stepHook) at(point string) error { return s.hook.At(point, s.path) }

// writeSynced writes data into the temporary file f, fsyncs and closes it.
func writeSynced(f *os.File, data []byte, mode fs.FileMode, hook stepHook) error {
	if err := hook.at("files.save.created"); err != nil {
		return err
	}
	half := len(data) / 2
	if _, err := f.Write(data[:half]); err != nil {
		return err
	}
	if err := hook.at("files.save.half"); err != nil {
		return err
	}
	if _, err := f.Write(data[half:]); err != nil {
		return err
	}
	if err := hook.at("files.save.written"); err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := hook.at("files.save.synced"); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return hook.at("files.save.closed")
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// RemoveTemps removes the temporary files that saves of path cut short by
// a crash left in its directory.
func RemoveTemps(path string) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("files: clean up after %s: %w", path, err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tempPrefix(base)) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("files: clean up after %s: %w", path, err)
			}
		}
	}
	return nil
}
