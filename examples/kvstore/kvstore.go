package main

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

// The typed client stubs: a server name (its persistent port) and a method.
var (
	Put = servers.Method[PutReq, int64]{Server: "kv", Name: "put"}
	Add = servers.Method[AddReq, int64]{Server: "kv", Name: "add"}
	Get = servers.Method[string, int64]{Server: "kv", Name: "get"}
	Len = servers.Method[struct{}, int]{Server: "kv", Name: "len"}
)

// ErrNoKey is returned by Get for a missing key.
var ErrNoKey = errors.New("no such key")

// NewKV builds the reliable key-value server: each operation is a plain
// function of the state, marked read or update (§4.1).
func NewKV(cfg servers.Config) *servers.Server[Store] {
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
