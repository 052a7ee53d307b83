package servers

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/stretchr/testify/require"
)

// account is how a new user wrote the state of a bank server: the balance
// unexported. Before construction checked the state type, a deposit
// acknowledged to an external client was gone after a restart, with no
// error and no log line.
type account struct {
	Owner   string
	balance int64
}

// ledger is the same state, kept whole.
type ledger struct {
	Owner   string
	Balance int64
}

var (
	depositM = NewMethod[int64, int64]("deposit", Update)
	balanceM = NewMethod[struct{}, int64]("balance", Read)
)

// What happened before the check: a deposit acknowledged to an external
// client (so committed before the answer) was gone after the server's
// host crashed and ran again from the bank. Now NewServer refuses the
// type, naming it and the field.
func TestUnexportedStateFieldLostADepositNowRefused(t *testing.T) {
	w := newWorld(t)
	unchecked := func() *Server[account] { // the construction of before the check
		srv := newServer(Config{Name: "bank", Driver: w.host("s").driver, Logger: w.log},
			func() account { return account{Owner: "ann"} })
		Handle(srv, depositM, func(_ *Call, s *account, n int64) (int64, error) { s.balance += n; return s.balance, nil })
		Handle(srv, balanceM, func(_ *Call, s *account, _ struct{}) (int64, error) { return s.balance, nil })
		return srv
	}
	serveUntilEnd(w, "s", unchecked())
	ext := w.external("x", "teller")
	n, err := depositM.At("bank").Call(w.ctx, ext, 100)
	require.NoError(t, err)
	require.Equal(t, int64(100), n, "acknowledged")
	w.crashHost("s")
	serveUntilEnd(w, "s", unchecked())
	n, err = balanceM.At("bank").Call(w.ctx, ext, struct{}{})
	require.NoError(t, err)
	require.Zero(t, n, "the acknowledged deposit was lost, silently")

	srv, err := NewServer(Config{Name: "bank"}, func() account { return account{Owner: "ann"} })
	require.Nil(t, srv)
	require.ErrorIs(t, err, ErrLossyType)
	require.EqualError(t, err,
		"servers: state type servers.account: field balance is unexported and would be lost at every checkpoint")
}

// The same server over a state kept whole: the acknowledged deposit is
// there after the server's host crashed and ran again from the bank.
func TestAcknowledgedDepositSurvivesRestart(t *testing.T) {
	w := newWorld(t)
	checked := func() *Server[ledger] {
		srv := mustServer(NewServer(Config{Name: "bank", Driver: w.host("s").driver, Logger: w.log},
			func() ledger { return ledger{Owner: "ann"} }))
		Handle(srv, depositM, func(_ *Call, s *ledger, n int64) (int64, error) { s.Balance += n; return s.Balance, nil })
		Handle(srv, balanceM, func(_ *Call, s *ledger, _ struct{}) (int64, error) { return s.Balance, nil })
		return srv
	}
	serveUntilEnd(w, "s", checked())
	ext := w.external("x", "teller")
	n, err := depositM.At("bank").Call(w.ctx, ext, 100)
	require.NoError(t, err)
	require.Equal(t, int64(100), n, "acknowledged")
	w.crashHost("s")
	serveUntilEnd(w, "s", checked())
	n, err = balanceM.At("bank").Call(w.ctx, ext, struct{}{})
	require.NoError(t, err)
	require.Equal(t, int64(100), n, "the acknowledged deposit after the restart")
}

// serveUntilEnd runs srv on host hostName like world.serve runs a counter
// server: stopped with the host, or when the test ends.
func serveUntilEnd[S any](w *world, hostName string, srv *Server[S]) {
	h := w.host(hostName)
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	h.cancel[srv.cfg.Name], h.done[srv.cfg.Name] = cancel, done
	go func() { done <- srv.Run(ctx) }()
	w.waitBound(h, srv.cfg.Name)
}

// A type whose values a checkpoint would lose is refused, naming the
// field and why.
func TestLossyStateTypesAreRefused(t *testing.T) {
	type inner struct {
		Name string
		note string
	}
	type embedded struct{ Z int }
	type myInt int
	type node struct {
		Next     *node
		Children []node
		OnVisit  func()
	}
	cases := []struct {
		name   string
		check  func() error
		field  string
		reason string
	}{
		{"func", refuse[struct{ F func() }](), "F", "is a func"},
		{"channel", refuse[struct{ C chan int }](), "C", "is a channel"},
		{"empty interface", refuse[struct{ V any }](), "V", "is an interface"},
		{"error", refuse[struct{ Err error }](), "Err", "is an interface (error)"},
		{"self-encoding interface", refuse[struct{ S codec.Selfer }](), "S", "is an interface"},
		{"complex", refuse[struct{ C complex128 }](), "C", "is a complex number"},
		{"address", refuse[struct{ P uintptr }](), "P", "is an address"},
		{"unsafe pointer", refuse[struct{ P unsafe.Pointer }](), "P", "is an address"},
		{"nested unexported", refuse[struct{ M map[string][]*inner }](), "M[][].note", "is unexported"},
		{"map key", refuse[struct{ M map[complex64]int }](), "M[key]", "is a complex number"},
		{"array", refuse[struct{ A [2]struct{ x int } }](), "A[].x", "is unexported"},
		{"embedded pointer", refuse[struct {
			*embedded
			W int
		}](), "embedded", "is unexported"},
		{"embedded non-struct", refuse[struct {
			myInt
			W int
		}](), "myInt", "is unexported"},
		{"recursive type", refuse[node](), "OnVisit", "is a func"},
		{"top level", refuse[chan int](), "", "is a channel"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check()
			var lossy *LossyTypeError
			require.ErrorAs(t, err, &lossy)
			require.Equal(t, tc.field, lossy.Field)
			require.Contains(t, lossy.Why, tc.reason)
			require.Equal(t, "state", lossy.Role)
		})
	}
}

// refuse returns the check NewServer makes of S's zero value.
func refuse[S any]() func() error {
	return func() error {
		_, err := NewServer(Config{Name: "s"}, func() S { var s S; return s })
		return err
	}
}

// lossyCodec encodes itself and forgets its value: the type walk trusts
// it, the round trip of the initial value does not.
type lossyCodec struct{ n int }

func (lossyCodec) MarshalBinary() ([]byte, error) { return []byte{0}, nil }
func (*lossyCodec) UnmarshalBinary([]byte) error  { return nil }

// keptCodec encodes itself whole.
type keptCodec struct{ n byte }

func (k keptCodec) MarshalBinary() ([]byte, error) { return []byte{k.n}, nil }
func (k *keptCodec) UnmarshalBinary(b []byte) error {
	if len(b) != 1 {
		return fmt.Errorf("keptCodec: %d bytes", len(b))
	}
	k.n = b[0]
	return nil
}

func TestInitialValueChangedByRoundTripIsRefused(t *testing.T) {
	type state struct{ C lossyCodec }
	_, err := NewServer(Config{Name: "s"}, func() state { return state{C: lossyCodec{n: 5}} })
	require.EqualError(t, err, "servers: state type servers.state: field C changes in an encode/decode "+
		"round trip of the initial value and would be lost at every checkpoint")
}

// Types the codec keeps whole are accepted: nested exported structs,
// maps, slices, arrays, pointers, recursive types, times, embedded struct
// values, fields left out on purpose, types that encode themselves.
func TestWholeStateTypesAreAccepted(t *testing.T) {
	type item struct {
		SKU   string
		Count int
		Price float64
	}
	type base struct{ Version int }
	type tree struct {
		Label    string
		Children []*tree
	}
	type state struct {
		base
		Items    map[string]item
		ByShelf  map[int][]item
		Grid     [2][2]int
		Best     *item
		Tree     tree
		Opened   time.Time
		Timeout  time.Duration
		Raw      []byte
		Codec    keptCodec
		cache    map[string]int `codec:"-"` // volatile on purpose: refilled by the Restart hook
		OnChange func()         `json:"-"`
	}
	paris := time.FixedZone("CET", 3600)
	init := func() state {
		return state{base: base{Version: 2}, Items: map[string]item{"a": {SKU: "a", Count: 1, Price: 1.5}},
			ByShelf: map[int][]item{3: {{SKU: "b"}}, 4: {}}, Grid: [2][2]int{{1, 2}, {3, 4}},
			Best: &item{SKU: "c"}, Tree: tree{Label: "root", Children: []*tree{{Label: "leaf"}}},
			Opened: time.Now().In(paris), Timeout: time.Second, Raw: []byte("x"), Codec: keptCodec{n: 7}}
	}
	srv, err := NewServer(Config{Name: "s"}, init)
	require.NoError(t, err)
	require.NotNil(t, srv)

	for name, check := range map[string]func() error{
		"int":       refuse[int64](),
		"string":    refuse[string](),
		"map":       refuse[map[string][]string](),
		"empty":     refuse[struct{}](),
		"time only": refuse[time.Time](),
	} {
		require.NoError(t, check(), name)
	}
}

// A request or reply type that loses values on the wire makes Run fail
// with the method named; so does a method registered twice.
func TestLossyRequestAndDuplicateMethodFailRun(t *testing.T) {
	type secret struct{ pin int }
	for name, register := range map[string]func(srv *Server[counters]){
		"request": func(srv *Server[counters]) {
			Handle(srv, NewMethod[secret, int]("open", Update), func(*Call, *counters, secret) (int, error) { return 0, nil })
		},
		"reply": func(srv *Server[counters]) {
			Handle(srv, NewMethod[int, secret]("peek", Read), func(*Call, *counters, int) (secret, error) { return secret{}, nil })
		},
		"twice": func(srv *Server[counters]) {
			Handle(srv, getM, func(*Call, *counters, string) (int, error) { return 0, nil })
			Handle(srv, getM, func(*Call, *counters, string) (int, error) { return 0, nil })
		},
	} {
		srv := mustServer(NewServer(Config{Name: "s"}, newCounters))
		register(srv)
		err := srv.Run(context.Background())
		require.Error(t, err, name)
		if name == "twice" {
			require.EqualError(t, err, `servers: s: method "get" registered twice`)
			continue
		}
		require.True(t, errors.Is(err, ErrLossyType), name)
		require.Contains(t, err.Error(), "servers: "+name+" type servers.secret: field pin is unexported and would be lost on the wire", name)
	}
}
