// Package client calls the reliable servers of a running pair from
// another process: the typed declarations an in-node client uses
// (servers.NewMethod), sent to the nodes' control sockets (POST /call).
//
//	c, err := client.DialPair("/tmp/ftm") // the directory of `ftmctl pair up --dir`
//	if err != nil { ... }
//	defer c.Close()
//	n, err := client.Call(ctx, c, kv.Put.At("n1/kv"), kv.PutReq{Key: "a", Value: 5})
//	_, err = client.Call(ctx, c, kv.Get.At("n1/kv"), "nokey")
//	errors.Is(err, kv.ErrNoKey) // true: declared errors keep their identity
//
// Guarantees and invariants:
//   - Output commit: a call is made by the node's external client, so an
//     update is answered only once the server's recovery unit committed in
//     a checkpoint (the state is on both nodes' banks). An acknowledged
//     update is durable; an unacknowledged one may or may not have happened.
//   - At most once: every call carries a request id of its own (the Conn's
//     client id and a number) kept by every retry, on either node; the
//     server answers a repeated id from its duplicate table, which lives in
//     its bank and so survives a takeover.
//   - Re-resolution and retry: a node that does not answer, or answers that
//     the bank's servers are not reachable yet (a takeover in progress, or
//     a bank waiting for its backup), is retried on the partner and again,
//     with short pauses, until the call's context ends (Config.Timeout when
//     it has no deadline). The node that answered a bank's call is tried
//     first next time; one attempt waits at most Config.AttemptTimeout, and
//     a node that did not answer is passed over for a while (attempt.go). A refusal (unknown server or operation, bad argument, a
//     handler's error, a wrong secret) is not retried.
//   - Contexts: the call's context bounds it; cancelling it closes the
//     request, and the node cancels the server's handler.
//   - No lock is held across a call: concurrent callers use connections of
//     their own, and the node makes their calls through separate clients.
//   - The package reads no environment variable and prints nothing.
package client
