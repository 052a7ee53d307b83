package node

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/node/control"
	"github.com/ftm-in-go/ftm/task"
)

func TestFaultRequestRefusedByANodeWithoutFaults(t *testing.T) {
	rt := &nodeRuntime{name: "a", faults: link.NewFaults(), log: zap.NewNop()}
	for _, allow := range []bool{false, true} {
		rt.allowFaults = allow
		w := httpRecorder(t, rt.serveFault, `{"kind":"partition","for":1000000000}`)
		if !allow {
			require.Equal(t, http.StatusForbidden, w.code)
			require.Contains(t, w.body, "--allow-faults")
			require.False(t, rt.faults.Partitioned())
			continue
		}
		require.Equal(t, http.StatusOK, w.code, w.body)
		require.True(t, rt.faults.Partitioned())
	}
	require.Equal(t, http.StatusBadRequest, httpRecorder(t, rt.serveFault, `{"kind":"flood"}`).code)
	require.Equal(t, http.StatusBadRequest, httpRecorder(t, rt.serveFault, `{"kind":"slow"}`).code)
	require.Equal(t, http.StatusBadRequest, httpRecorder(t, rt.serveFault, `not json`).code)
}

func TestCkptLogEntries(t *testing.T) {
	c := newCkptLog("a", 3)
	run1 := time.Now()
	rec := func(since time.Time, n, pages int) task.Record {
		return task.Record{ID: 1, Bank: "a", Program: "p", State: task.StateRunning, Since: since,
			Stats: task.Stats{Checkpoints: n, PagesSaved: pages, BytesSaved: int64(pages) * 8, TimeStopped: time.Duration(n) * time.Millisecond}}
	}
	require.Empty(t, c.poll([]task.Record{rec(run1, 0, 0)}))
	added := c.poll([]task.Record{rec(run1, 2, 5)})
	require.Len(t, added, 1)
	require.Equal(t, control.CkptEntry{Seq: 1, Time: added[0].Time, Node: "a", Bank: "a", Task: 1, Program: "p", Initiator: "policy",
		Count: 2, Number: 2, Pages: 5, Bytes: 40, Duration: 2 * time.Millisecond}, added[0])
	require.Empty(t, c.poll([]task.Record{rec(run1, 2, 5)}), "nothing new")

	ch, stop := c.await("a/1")
	defer stop()
	c.poll([]task.Record{rec(run1, 3, 7)})
	got := <-ch
	require.True(t, got.Awaited)
	require.Equal(t, 2, got.Pages)

	// A restart (new run) counts from zero again.
	run2 := run1.Add(time.Second)
	added = c.poll([]task.Record{rec(run2, 1, 4)})
	require.Len(t, added, 1)
	require.Equal(t, 4, added[0].Pages)
	c.poll([]task.Record{rec(run2, 2, 6)})
	es := c.entries()
	require.Len(t, es, 3, "the ring keeps the last 3")
	require.Equal(t, []uint64{2, 3, 4}, []uint64{es[0].Seq, es[1].Seq, es[2].Seq})
}

func TestControlTokenIsChecked(t *testing.T) {
	secret := []byte("s3cret")
	h := control.RequireToken(secret, "a", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	for _, tc := range []struct {
		header string
		code   int
	}{
		{"", http.StatusUnauthorized},
		{control.AuthScheme + "zz", http.StatusUnauthorized},
		{control.AuthScheme + hex.EncodeToString(control.Token([]byte("other"), "a")), http.StatusUnauthorized},
		{control.AuthScheme + hex.EncodeToString(control.Token(secret, "b")), http.StatusUnauthorized},
		{hex.EncodeToString(control.Token(secret, "a")), http.StatusUnauthorized},
		{control.AuthScheme + hex.EncodeToString(control.Token(secret, "a")), http.StatusOK},
	} {
		w := serve(t, h, tc.header)
		require.Equal(t, tc.code, w.code, "header %q", tc.header)
	}
}

type recorded struct {
	code int
	body string
}

func serve(t *testing.T, h http.Handler, authz string) recorded {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://node/status", nil)
	require.NoError(t, err)
	if authz != "" {
		req.Header.Set(control.AuthHeader, authz)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return recorded{code: w.Code, body: w.Body.String()}
}

func httpRecorder(t *testing.T, h http.HandlerFunc, body string) recorded {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://node/fault", strings.NewReader(body))
	require.NoError(t, err)
	w := httptest.NewRecorder()
	h(w, req)
	return recorded{code: w.Code, body: w.Body.String()}
}
