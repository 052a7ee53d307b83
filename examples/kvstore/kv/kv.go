package kv

import (
	"errors"
	"fmt"

	"github.com/ftm-in-go/ftm/servers"
)

// Store is the whole state of the key-value server: a plain Go type. The
// framework keeps it in memory during a recovery unit and in STM at every
// checkpoint; NewServer refuses it unless it survives encoding whole
// (exported fields, no funcs, channels or interfaces).
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

// Name is the persistent port name of the tutorial's server. ftmctl runs
// one kv server per bank, named BANK/kv: its clients bind the methods
// there (kv.Get.At("alpha/kv")).
const Name = "kv"

// The operations of the key-value server, each declared once: its name,
// its attribute (§4.1), its request and reply types and the errors it
// declares. New registers their handlers; clients call them, bound to the
// server named Name (At binds them to another).
var (
	Put = servers.NewMethod[PutReq, int64]("put", servers.Update).At(Name)
	Add = servers.NewMethod[AddReq, int64]("add", servers.Update, ErrOverflow).At(Name)
	Get = servers.NewMethod[string, int64]("get", servers.Read, ErrNoKey).At(Name)
	Len = servers.NewMethod[struct{}, int]("len", servers.Read).At(Name)
)

// ErrNoKey is returned by Get for a missing key; Get declares it, so a
// client on any node sees errors.Is(err, ErrNoKey).
var ErrNoKey = errors.New("no such key")

// ErrOverflow is returned by Add when the sum leaves the int64 range; the
// value is left as it was. Add declares it, so a client on any node sees
// errors.Is(err, ErrOverflow).
var ErrOverflow = errors.New("kv: the sum overflows a 64-bit integer")

// New builds the reliable key-value server: each operation is a plain
// function of the state, registered for its declared method.
func New(cfg servers.Config) (*servers.Server[Store], error) {
	srv, err := servers.NewServer(cfg, func() Store { return Store{Values: map[string]int64{}} })
	if err != nil {
		return nil, err
	}
	servers.Handle(srv, Put, func(_ *servers.Call, s *Store, r PutReq) (int64, error) {
		s.Values[r.Key] = r.Value
		s.Writes++
		return r.Value, nil
	})
	servers.Handle(srv, Add, func(_ *servers.Call, s *Store, r AddReq) (int64, error) {
		sum, ok := addInt64(s.Values[r.Key], r.By)
		if !ok {
			return 0, fmt.Errorf("%w: %d + %d", ErrOverflow, s.Values[r.Key], r.By)
		}
		s.Values[r.Key] = sum
		s.Writes++
		return s.Values[r.Key], nil
	})
	servers.Handle(srv, Get, func(_ *servers.Call, s *Store, key string) (int64, error) {
		v, ok := s.Values[key]
		if !ok {
			return 0, ErrNoKey
		}
		return v, nil
	})
	servers.Handle(srv, Len, func(_ *servers.Call, s *Store, _ struct{}) (int, error) {
		return len(s.Values), nil
	})
	srv.SetHooks(servers.Hooks[Store]{
		Restart: func(s *Store) {
			if s.Values == nil { // restored from a version written before Values existed
				s.Values = map[string]int64{}
			}
		},
	})
	return srv, nil
}

// addInt64 returns a+b and whether it fits in an int64.
func addInt64(a, b int64) (int64, bool) {
	sum := a + b
	if (b > 0 && sum < a) || (b < 0 && sum > a) {
		return 0, false
	}
	return sum, true
}
