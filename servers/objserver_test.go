package servers

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ftm-in-go/ftm/stm"
	"github.com/stretchr/testify/require"
)

// objCounters is the test server's state by object: the counters, the log
// of applied tags and the trace are a Map and two Logs, so each checkpoint
// writes only what changed.
type objCounters struct {
	N     Map[string, int]
	Log   Log[string]
	Trace Log[string]
}

// newObjCounterServer is the counter server (rig_test.go) over objCounters.
func newObjCounterServer(cfg Config) *Server[objCounters] {
	srv := mustServer(NewServer(cfg, func() objCounters { return objCounters{} }))
	Handle(srv, addM, func(c *Call, s *objCounters, r addReq) (int, error) {
		if r.Key == "" {
			return 0, fmt.Errorf("%w (by %d)", errEmptyKey, r.By)
		}
		n, _ := s.N.Get(r.Key)
		s.N.Set(r.Key, n+r.By)
		if r.Tag != "" {
			s.Log.Append(r.Tag)
			s.Trace.Append(r.Tag + "<" + c.Caller.String())
		}
		return n + r.By, nil
	})
	Handle(srv, getM, func(c *Call, s *objCounters, key string) (int, error) {
		n, _ := s.N.Get(key)
		return n, nil
	})
	Handle(srv, fwdM, func(c *Call, s *objCounters, r fwdReq) (int, error) {
		if r.Get {
			return mGet(r.To).Call(c.Context(), c.Client(), r.Add.Key)
		}
		return mAdd(r.To).Call(c.Context(), c.Client(), r.Add)
	})
	return srv
}

// runner is a server of either kind.
type runner interface {
	Run(ctx context.Context) error
}

// serverKind is how the rigs build a counter server and read its committed
// state back: whole-value S (counters) or S by object (objCounters).
type serverKind struct {
	name      string
	build     func(Config) runner
	committed func(t testing.TB, b *stm.Bank, name string) counters
}

var (
	wholeKind = serverKind{name: "whole", build: func(c Config) runner { return newCounterServer(c) },
		committed: committedWhole}
	objKind = serverKind{name: "objects", build: func(c Config) runner { return newObjCounterServer(c) },
		committed: committedObjects}
	kinds = []serverKind{wholeKind, objKind}
)

// committedWhole reads a whole-value counter server's committed S.
func committedWhole(t testing.TB, b *stm.Bank, name string) counters {
	tx := b.Begin()
	defer tx.Abort()
	buf, err := tx.Bytes(stableID(tx, stateName(name)))
	if errors.Is(err, stm.ErrNotFound) {
		return newCounters()
	}
	require.NoError(t, err)
	st, err := stm.Decode[stable[counters]](buf)
	require.NoError(t, err)
	return st.State
}

// committedObjects reads an object counter server's committed S as a
// restarted process would (header and every entry from the bank), as
// counters.
func committedObjects(t testing.TB, b *stm.Bank, name string) counters {
	srv := newObjCounterServer(Config{Name: name})
	srv.cfg.Driver = &Driver{cfg: DriverConfig{Bank: b}}
	tx := b.Begin()
	id, ok, err := stableNames.Lookup(tx, stateName(name))
	tx.Abort()
	require.NoError(t, err)
	if !ok {
		return newCounters()
	}
	srv.dataID = id
	srv.crashed()
	require.NoError(t, srv.reloadState(context.Background()))
	s := &srv.st.State
	out := newCounters()
	for k, v := range s.N.All() {
		out.N[k] = v
	}
	for _, tag := range s.Log.All() {
		out.Log = append(out.Log, tag)
	}
	for _, tr := range s.Trace.All() {
		out.Trace = append(out.Trace, tr)
	}
	return out
}

// An application RU updates a server whose S holds a Map and Logs (a
// changed key, a new key, appended tags), then dies: its RU aborts, the
// abort wave aborts the server's RU (the server does not crash), and the
// Map and the Logs go back exactly to their committed entries, in memory
// and in the bank, while the external client's acknowledged update stays.
func TestObjectStateRollsBackOnAbort(t *testing.T) {
	w := newWorld(t)
	w.kind = objKind
	w.serve("s", "kv")
	ext := w.external("x", "ext")
	_, err := mAdd("kv").Call(w.ctx, ext, addReq{Key: "k", By: 1, Tag: "e1"})
	require.NoError(t, err)
	a := w.host("a")
	app, err := NewClient(ClientConfig{Name: "app", Driver: a.driver, Logger: w.log})
	require.NoError(t, err)
	for _, r := range []addReq{{Key: "k", By: 5, Tag: "a1"}, {Key: "new", By: 2, Tag: "a2"}} {
		_, err = mAdd("kv").Call(w.ctx, app, r)
		require.NoError(t, err)
	}
	lost := app.RU()
	n, err := mGet("kv").Call(w.ctx, app, "k") // not ext's: its output commit would commit the app's RU
	require.NoError(t, err)
	require.Equal(t, 6, n, "the app's update is in memory")
	incBefore := w.liveID("s", "kv").Inc

	app.Close() // the application process dies and comes back: its RU aborts
	app2, err := NewClient(ClientConfig{Name: "app", Driver: a.driver, Logger: w.log})
	require.NoError(t, err)
	defer app2.Close()
	require.Eventually(t, func() bool { return w.unitState("app").Aborted[lost.Inc] }, waitFor, tick)
	require.Eventually(t, func() bool { return w.liveID("s", "kv").Inc > incBefore }, waitFor, tick,
		"the server's RU that depended on the app's aborted")

	for key, want := range map[string]int{"k": 1, "new": 0} {
		n, err := mGet("kv").Call(w.ctx, ext, key)
		require.NoError(t, err)
		require.Equal(t, want, n, "key %s rolled back in memory", key)
	}
	_, err = mAdd("kv").Call(w.ctx, ext, addReq{Key: "k", By: 10, Tag: "e2"})
	require.NoError(t, err)
	got := w.committed("kv")
	require.Equal(t, map[string]int{"k": 11}, got.N)
	require.Equal(t, []string{"e1", "e2"}, got.Log)
}

// forgetful is a state whose StateCodec leaves a field out.
type forgetful struct {
	M    Map[string, int]
	Kept int64
	Lost int64
}

func (f *forgetful) AppendState(b []byte) ([]byte, error) {
	b, _ = Int64Codec.Append(b, f.Kept)
	return f.M.AppendHeader(b), nil
}

func (f *forgetful) DecodeState(b []byte) (err error) {
	if f.Kept, b, err = Int64Codec.Read(b); err != nil {
		return err
	}
	_, err = f.M.ReadHeader(b)
	return err
}

// A state holding Maps and Logs is checked as any other: the collections
// pass where they are fields of S, with key and value types the codec
// keeps whole; one behind a pointer, a slice or a map (where its entries
// could not be found), one whose values msgpack would lose, and a
// StateCodec that forgets a field are refused, naming the field.
func TestStateCheckOfCollections(t *testing.T) {
	type item struct{ SKU string }
	type secret struct{ pin int }
	type inner struct{ L Log[item] }
	type good struct {
		M      Map[string, item]
		ByID   Map[uint64, []byte]
		Nested inner
		Top    int
	}
	_, err := NewServer(Config{Name: "s"}, func() good { return good{Top: 3} })
	require.NoError(t, err)
	_, err = NewServer(Config{Name: "s"}, func() forgetful { return forgetful{Kept: 1} })
	require.NoError(t, err, "the forgotten field is zero in the initial value")

	for _, tc := range []struct {
		name, field, reason string
		check               func() error
	}{
		{"behind a pointer", "P", "a collection must be a field of S", refuse[struct{ P *Map[string, int] }]()},
		{"in a slice", "S[]", "a collection must be a field of S", refuse[struct{ S []Log[int] }]()},
		{"in a map", "M[]", "a collection must be a field of S", refuse[struct{ M map[string]Map[int, int] }]()},
		{"lossy value", "M[].pin", "is unexported", refuse[struct{ M Map[string, secret] }]()},
		{"lossy key", "M[key]", "is a complex number", refuse[struct{ M Map[complex64, int] }]()},
		{"lossy log entry", "L[].pin", "is unexported", refuse[struct{ L Log[secret] }]()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lossy *LossyTypeError
			require.ErrorAs(t, tc.check(), &lossy)
			require.Equal(t, tc.field, lossy.Field)
			require.Contains(t, lossy.Why, tc.reason)
		})
	}
	_, err = NewServer(Config{Name: "s"}, func() forgetful { return forgetful{Kept: 1, Lost: 2} })
	require.EqualError(t, err, "servers: state type servers.forgetful: field Lost changes in an encode/decode "+
		"round trip of the initial value and would be lost at every checkpoint")
}
