package servers

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/stretchr/testify/require"
)

// failM's handler returns an error it does not declare.
var failM = NewMethod[string, int]("fail", Read)

// A server's declared errors keep their identity across two kernel nodes:
// the reply carries the declared error's code and errors.Is is true on the
// client's node, for an application and an external client, and through a
// nested call that passes the error on. An undeclared error arrives as a
// *RemoteError with its message only.
func TestDeclaredErrorsKeepIdentityAcrossNodes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := twoNodes(ctx, t)
	kv := newCounterServer(Config{Name: "kv", Driver: r.da})
	Handle(kv, failM, func(_ *Call, _ *counters, what string) (int, error) {
		return 0, fmt.Errorf("disk on fire: %s", what)
	})
	runUntilEnd(ctx, t, kv)
	runUntilEnd(ctx, t, newCounterServer(Config{Name: "kv2", Driver: r.da}))

	app, err := NewClient(ClientConfig{Name: "app", Driver: r.db})
	require.NoError(t, err)
	defer app.Close()
	extTask, err := r.nb.NewTask("ext")
	require.NoError(t, err)
	ext, err := NewClient(ClientConfig{Name: "ext", Task: extTask, Names: names.NewKernel(extTask, nil)})
	require.NoError(t, err)
	defer ext.Close()
	for _, srv := range []string{"kv", "kv2"} {
		require.Eventually(t, func() bool { _, err := mGet(srv).Call(ctx, ext, "x"); return err == nil },
			waitFor, 5*time.Millisecond, "%s never answered across the link", srv)
	}

	for name, c := range map[string]*Client{"application": app, "external": ext} {
		_, err := mAdd("kv").Call(ctx, c, addReq{Key: "", By: 4})
		require.ErrorIs(t, err, errEmptyKey, name)
		var re *RemoteError
		require.ErrorAs(t, err, &re, name)
		require.Equal(t, RemoteError{Server: "kv", Method: "add", Msg: "counters: empty key (by 4)",
			Code: "counters: empty key", declared: errEmptyKey}, *re, name)
		require.EqualError(t, err, "kv.add: counters: empty key (by 4)", name)

		_, err = mFwd("kv").Call(ctx, c, fwdReq{To: "kv2", Add: addReq{By: 2}})
		require.ErrorIs(t, err, errEmptyKey, "%s: passed on by a nested call", name)

		_, err = failM.At("kv").Call(ctx, c, "now")
		require.ErrorAs(t, err, &re, name)
		require.Equal(t, RemoteError{Server: "kv", Method: "fail", Msg: "disk on fire: now"}, *re, name)
		require.NoError(t, errors.Unwrap(err), name)
		require.NotErrorIs(t, err, errEmptyKey, name)
	}
}

// A retried request answered from the duplicate table keeps the declared
// error's code: the saved reply carries it.
func TestDuplicateAnswerKeepsErrorCode(t *testing.T) {
	srv := newCounterServer(Config{Name: "kv"})
	body, err := stm.Encode(addReq{Key: "", By: 1})
	require.NoError(t, err)
	req := request{Method: "add", Client: "c", Seq: 7, Low: 1, Body: body}
	call := &Call{ctx: context.Background()}
	first, p := srv.run(call, req, srv.methods["add"])
	require.Nil(t, p)
	require.Equal(t, savedReply{Status: statusAppError, Err: "counters: empty key (by 1)", Code: "counters: empty key"}, first)
	again, _ := srv.run(call, req, srv.methods["add"])
	require.Equal(t, first, again)
	require.Equal(t, first, srv.st.Dups["c"][7], "in the duplicate table, which is saved with S")
}

// runUntilEnd runs srv until the test ends.
func runUntilEnd[S any](ctx context.Context, t *testing.T, srv *Server[S]) {
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(sctx) }()
	t.Cleanup(func() { stop(); <-done })
}

// A method's declaration is its contract: a nameless method, a nil
// declared error or two declared errors of one code are refused at once.
func TestBadDeclarationsPanic(t *testing.T) {
	require.PanicsWithValue(t, "servers: a method needs a name", func() { NewMethod[int, int]("", Read) })
	require.PanicsWithValue(t, `servers: method "m" declares a nil error`, func() { NewMethod[int, int]("m", Read, nil) })
	require.PanicsWithValue(t, `servers: method "m" declares two errors with the code "x"`,
		func() { NewMethod[int, int]("m", Read, errors.New("x"), errors.New("x")) })
	require.NotPanics(t, func() { NewMethod[int, int]("m", Read, errors.New("x"), errors.New("y")) })
}
