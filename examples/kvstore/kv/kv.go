package kv

import (
	"errors"
	"fmt"

	"github.com/ftm-in-go/ftm/servers"
)

// Store is the state of the key-value server. The keys are a
// servers.Map: each is a stable object of its own, so a checkpoint writes
// the keys an RU changed and the small rest of Store, not every key, and a
// durable update costs the same at 10 keys as at 100,000. Writes is a
// plain field, kept with the Map's header in the server's own object.
// NewServer refuses a state that would not survive a checkpoint whole
// (exported fields, no funcs, channels or interfaces).
type Store struct {
	Items  servers.Map[string, int64]
	Writes int64 // updates applied, for the demo's output
	// Values is where a version of this server written before Items
	// existed kept its keys: read once, moved into Items by the hooks
	// when S is restored, never written again.
	Values map[string]int64 `codec:",omitempty"`
}

// AppendState and DecodeState are Store's servers.StateCodec: the state
// is encoded at every checkpoint by hand, without reflection (Items by its
// header; its entries are written by the framework).
func (s *Store) AppendState(b []byte) ([]byte, error) {
	b, err := servers.Int64Codec.Append(b, s.Writes)
	if err != nil {
		return nil, err
	}
	return s.Items.AppendHeader(b), nil
}

// DecodeState decodes what AppendState wrote.
func (s *Store) DecodeState(b []byte) error {
	w, b, err := servers.Int64Codec.Read(b)
	if err != nil {
		return err
	}
	s.Writes = w
	_, err = s.Items.ReadHeader(b)
	return err
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
	srv, err := servers.NewServer(cfg, func() Store { return Store{} })
	if err != nil {
		return nil, err
	}
	servers.Handle(srv, Put, func(_ *servers.Call, s *Store, r PutReq) (int64, error) {
		s.Items.Set(r.Key, r.Value)
		s.Writes++
		return r.Value, nil
	})
	servers.Handle(srv, Add, func(_ *servers.Call, s *Store, r AddReq) (int64, error) {
		old, _ := s.Items.Get(r.Key)
		sum, ok := addInt64(old, r.By)
		if !ok {
			return 0, fmt.Errorf("%w: %d + %d", ErrOverflow, old, r.By)
		}
		s.Items.Set(r.Key, sum)
		s.Writes++
		return sum, nil
	})
	servers.Handle(srv, Get, func(_ *servers.Call, s *Store, key string) (int64, error) {
		v, ok := s.Items.Get(key)
		if !ok {
			return 0, ErrNoKey
		}
		return v, nil
	})
	servers.Handle(srv, Len, func(_ *servers.Call, s *Store, _ struct{}) (int, error) {
		return s.Items.Len(), nil
	})
	// S is restored from STM before either hook runs: at a restart or an
	// abort (Restart), or when a checkpoint that was in doubt at a restart
	// commits (AfterCheckpoint, after S is reloaded).
	srv.SetHooks(servers.Hooks[Store]{Restart: moveValues, AfterCheckpoint: moveValues})
	return srv, nil
}

// moveValues moves the keys of a version written before Items existed
// into Items: they are written at the next checkpoint (nothing to do once
// Values is empty).
func moveValues(s *Store) {
	for k, v := range s.Values {
		s.Items.Set(k, v)
	}
	s.Values = nil
}

// addInt64 returns a+b and whether it fits in an int64.
func addInt64(a, b int64) (int64, bool) {
	sum := a + b
	if (b > 0 && sum < a) || (b < 0 && sum > a) {
		return 0, false
	}
	return sum, true
}
