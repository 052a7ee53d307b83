// Command benchnode is the node binary of the client package's benchmark:
// the kv server of examples/kvstore on every bank, and the in-library
// baseline: POST /libbench on the control socket makes updates through
// external clients made in the node's own process (node.Env.NewClient),
// the calls package client makes from another process, without it. POST
// /noop answers at once: the control socket's own round trip.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/ftm-in-go/ftm/examples/kvstore/kv"
	"github.com/ftm-in-go/ftm/node"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/task"
)

// env is the node's, set when it starts (before its control socket serves).
var env node.Env

func main() {
	node.Main(
		node.Server(kv.Name, kv.New, node.Op(kv.Put), node.Op(kv.Add), node.Op(kv.Get), node.Op(kv.Len)),
		node.ProgramEnv("noop", func(e node.Env) task.Program {
			env = e
			return func(context.Context, *task.Task, []string) (string, error) { return "", nil }
		}),
		node.Routes(func(mux *http.ServeMux) {
			mux.HandleFunc("POST /libbench", libbench)
			mux.HandleFunc("POST /noop", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("{}")) })
		}),
	)
}

// libResult is what POST /libbench answers.
type libResult struct {
	P50    time.Duration `json:"p50"`
	PerSec float64       `json:"per_sec"`
}

// libbench makes ?calls= updates of this node's kv server with ?callers=
// concurrent external clients and answers their p50 and throughput.
func libbench(w http.ResponseWriter, r *http.Request) {
	calls, _ := strconv.Atoi(r.URL.Query().Get("calls"))
	callers, _ := strconv.Atoi(r.URL.Query().Get("callers"))
	callers = max(callers, 1)
	server := env.Node + "/" + kv.Name
	lat := make([][]time.Duration, callers)
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range callers {
		c, err := env.NewClient(fmt.Sprintf("libbench%d", i))
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			lat[i], err = run(r.Context(), c, kv.Put.At(server), calls/callers)
			errs <- err
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	res := libResult{P50: all[len(all)/2], PerSec: float64(len(all)) / took.Seconds()}
	_ = json.NewEncoder(w).Encode(res)
}

// run makes n puts with put through c and returns their latencies.
func run(ctx context.Context, c *servers.Client, put servers.Method[kv.PutReq, int64], n int) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, n)
	for i := range n {
		t0 := time.Now()
		if _, err := put.Call(ctx, c, kv.PutReq{Key: "lib", Value: int64(i)}); err != nil {
			return lat, err
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}
