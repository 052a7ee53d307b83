package stm

import (
	"context"
	"fmt"
	"maps"
)

// Naming (bbolt's buckets are the model): a package names its stable
// objects in a namespace of its own instead of choosing ids. A namespace is
// a directory, one stable object mapping names to ids; the root directory,
// at RootID, maps namespace names to their directories. Every id a binding
// names is allocated by the bank (Tx.Create, Tx.Reserve), so two names never
// share an id and no package computes ids of another's range. A binding is
// written in a transaction like any object: it commits with the data it
// names (or in a short transaction of its own, Namespace.Resolve), is old
// or new after a crash, and is mirrored to the backup.

// RootID is the one well-known id: the root directory of a bank, mapping
// namespace names to the ids of their directories. It is the last id below
// FirstAllocatedID, so the ids callers choose themselves (tests, tools) stay
// free up to it.
const RootID ID = FirstAllocatedID - 1

// Namespace is one package's directory of named stable objects ("task",
// "rvm", "files", "screen", "servers"). Its directory is created in the
// transaction binding its first name.
type Namespace string

// Lookup returns the id bound to name in ns as tx sees it; ok is false when
// none is (nothing is written). The lookup reads the directories, so tx is
// validated against a concurrent change of them like any read.
func (ns Namespace) Lookup(tx *Tx, name string) (id ID, ok bool, err error) {
	dir, ok, err := ns.dirID(tx)
	if err != nil || !ok {
		return 0, false, err
	}
	names, err := tx.directory(dir)
	if err != nil {
		return 0, false, fmt.Errorf("namespace %q: %w", ns, err)
	}
	id, ok = names[name]
	return id, ok, nil
}

// Bind returns the id bound to name in ns, binding a fresh one in tx when
// there is none: the id is allocated as Tx.Create allocates (no object is
// created there), and the binding commits or aborts with tx. A new binding
// holds ns's directory until tx ends (another binding in ns meanwhile gets
// ErrConflict), so bind in short transactions, not in one waiting in a
// group.
func (ns Namespace) Bind(tx *Tx, name string) (ID, error) {
	if id, ok, err := ns.Lookup(tx, name); err != nil || ok {
		return id, err
	}
	id, err := tx.Reserve(1)
	if err != nil {
		return 0, err
	}
	return id, ns.update(tx, func(names map[string]ID) { names[name] = id })
}

// Unbind removes name's binding from ns in tx (a no-op when there is none).
// The object it named is the caller's to delete, in the same transaction.
func (ns Namespace) Unbind(tx *Tx, name string) error {
	if _, ok, err := ns.Lookup(tx, name); err != nil || !ok {
		return err
	}
	return ns.update(tx, func(names map[string]ID) { delete(names, name) })
}

// Names returns every binding of ns as tx sees it. The map is shared with
// the bank's cache: the caller must not modify it.
func (ns Namespace) Names(tx *Tx) (map[string]ID, error) {
	dir, ok, err := ns.dirID(tx)
	if err != nil || !ok {
		return nil, err
	}
	return tx.directory(dir)
}

// Resolve returns the id bound to name in ns in bank b, binding a fresh one
// in a short transaction of its own when there is none (retried after a
// conflict with another binding). It is for callers that name an object
// before the transaction writing it; a binding without its object reads as
// ErrNotFound, like no binding. Finding a binding commits nothing, so it
// works on a bank without a backup; making one needs a commit.
func (ns Namespace) Resolve(ctx context.Context, b *Bank, name string) (ID, error) {
	tx := b.Begin() // never committed: a read-only commit needs a backup
	id, ok, err := ns.Lookup(tx, name)
	tx.Abort()
	if err != nil || ok {
		return id, err
	}
	err = b.UpdateRetry(ctx, func(tx *Tx) error {
		id, err = ns.Bind(tx, name)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("bind %q in namespace %q: %w", name, ns, err)
	}
	return id, nil
}

// dirID returns the id of ns's directory as tx sees it.
func (ns Namespace) dirID(tx *Tx) (ID, bool, error) {
	root, err := tx.directory(RootID)
	if err != nil {
		return 0, false, fmt.Errorf("root directory: %w", err)
	}
	id, ok := root[string(ns)]
	return id, ok, nil
}

// update applies change to a copy of ns's directory and writes it in tx,
// creating the directory (and its root binding) if needed.
func (ns Namespace) update(tx *Tx, change func(map[string]ID)) error {
	dir, ok, err := ns.dirID(tx)
	if err != nil {
		return err
	}
	if !ok {
		if dir, err = tx.Reserve(1); err != nil {
			return err
		}
		if err := tx.writeDirectory(RootID, func(root map[string]ID) { root[string(ns)] = dir }); err != nil {
			return err
		}
	}
	return tx.writeDirectory(dir, change)
}

// writeDirectory writes a changed copy of directory dir in tx.
func (tx *Tx) writeDirectory(dir ID, change func(map[string]ID)) error {
	names, err := tx.directory(dir)
	if err != nil {
		return err
	}
	names = maps.Clone(names)
	if names == nil {
		names = map[string]ID{}
	}
	change(names)
	data, err := Encode(names)
	if err != nil {
		return err
	}
	return tx.Put(dir, data)
}

// dirCache is the decoded committed version of one directory. Versions are
// never modified in place and each commit installs a new *object, so the
// decoding stays valid as long as obj is the committed version.
type dirCache struct {
	obj   *object
	names map[string]ID
}

// directory returns directory dir as tx sees it (nil if absent): its own
// new version, decoded each time, or the committed one, decoded once per
// version and cached in the bank. The read is recorded for validation
// either way. The map must not be modified.
func (tx *Tx) directory(dir ID) (map[string]ID, error) {
	b := tx.b
	b.mu.Lock()
	if err := tx.usable(); err != nil {
		b.mu.Unlock()
		return nil, err
	}
	if v, ok := tx.writes[dir]; ok {
		b.mu.Unlock()
		if v.deleted {
			return nil, nil
		}
		return Decode[map[string]ID](v.data)
	}
	o := b.objs[dir]
	tx.noteRead(dir, o)
	c, cached := b.dirs[dir]
	b.mu.Unlock()
	if o == nil {
		return nil, nil
	}
	if cached && c.obj == o {
		return c.names, nil
	}
	names, err := Decode[map[string]ID](o.data)
	if err != nil {
		return nil, fmt.Errorf("directory %d: %w", dir, err)
	}
	b.mu.Lock()
	if b.dirs == nil {
		b.dirs = make(map[ID]dirCache)
	}
	if cur := b.objs[dir]; cur == o { // still the committed version
		b.dirs[dir] = dirCache{obj: o, names: names}
	}
	b.mu.Unlock()
	return names, nil
}

// Reserve allocates n consecutive fresh ids, as Tx.Create allocates one,
// and returns the first; no object is created. A reservation made by a
// transaction that commits survives takeovers and full copies (the bank's
// allocator travels with every commit); ids reserved by a transaction that
// aborts are never handed out again.
func (tx *Tx) Reserve(n int) (ID, error) {
	if n < 1 {
		return 0, fmt.Errorf("reserve %d ids: %w", n, ErrBadRange)
	}
	b := tx.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := tx.usable(); err != nil {
		return 0, err
	}
	if tx.readOnly {
		return 0, ErrReadOnly
	}
	id := b.nextID
	b.nextID += ID(n)
	return id, nil
}
