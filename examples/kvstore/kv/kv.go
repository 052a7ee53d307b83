// Package kv is the tutorial reliable server of docs/programming-guide.md:
// a key-value store written only against package servers. examples/kvstore
// runs it; ftmctl runs one per bank as the built-in server BANK/kv.
package kv

import (
	"errors"

	"github.com/ftm-in-go/ftm/servers"
)

// Store is the whole state of the key-value server: a plain Go type. The
// framework keeps it in memory during a recovery unit and in STM at every
// checkpoint; it must be msgpack-encodable (exported fields).
type Store struct {
	Values map[string]int64
	Writes int64 // updates applied, for the demo's output
}

// PutReq and AddReq are the arguments of the update operations.
type PutReq struct {
	Key   string
	Value int64
}

type AddReq struct {
	Key string
	By  int64
}

// Stubs are the typed client stubs of one kv server: its name (its
// persistent port) and a method each.
type Stubs struct {
	Put servers.Method[PutReq, int64]
	Add servers.Method[AddReq, int64]
	Get servers.Method[string, int64]
	Len servers.Method[struct{}, int]
}

// StubsFor returns the stubs of the kv server named server.
func StubsFor(server string) Stubs {
	return Stubs{
		Put: servers.Method[PutReq, int64]{Server: server, Name: "put"},
		Add: servers.Method[AddReq, int64]{Server: server, Name: "add"},
		Get: servers.Method[string, int64]{Server: server, Name: "get"},
		Len: servers.Method[struct{}, int]{Server: server, Name: "len"},
	}
}

// The stubs of the server named "kv".
var (
	Put = StubsFor("kv").Put
	Add = StubsFor("kv").Add
	Get = StubsFor("kv").Get
	Len = StubsFor("kv").Len
)

// ErrNoKey is returned by Get for a missing key.
var ErrNoKey = errors.New("no such key")

// New builds the reliable key-value server: each operation is a plain
// function of the state, marked read or update (§4.1).
func New(cfg servers.Config) *servers.Server[Store] {
	srv := servers.NewServer(cfg, func() Store { return Store{Values: map[string]int64{}} })
	servers.Handle(srv, "put", servers.Update, func(_ *servers.Call, s *Store, r PutReq) (int64, error) {
		s.Values[r.Key] = r.Value
		s.Writes++
		return r.Value, nil
	})
	servers.Handle(srv, "add", servers.Update, func(_ *servers.Call, s *Store, r AddReq) (int64, error) {
		s.Values[r.Key] += r.By
		s.Writes++
		return s.Values[r.Key], nil
	})
	servers.Handle(srv, "get", servers.Read, func(_ *servers.Call, s *Store, key string) (int64, error) {
		v, ok := s.Values[key]
		if !ok {
			return 0, ErrNoKey
		}
		return v, nil
	})
	servers.Handle(srv, "len", servers.Read, func(_ *servers.Call, s *Store, _ struct{}) (int, error) {
		return len(s.Values), nil
	})
	srv.SetHooks(servers.Hooks[Store]{
		Restart: func(s *Store) {
			if s.Values == nil { // restored from a version written before Values existed
				s.Values = map[string]int64{}
			}
		},
	})
	return srv
}
