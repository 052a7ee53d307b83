package servers

import "context"

// RequestID is the identity of a call in the servers' duplicate tables:
// the calling client's stable id, the request's number (the same on every
// retry) and the number below which every request of that client was
// answered (the table drops them).
//
// A process outside the node (package client) numbers its own requests:
// the node makes its call with the process's RequestID, so a request the
// process retries, through this node or its partner after a takeover, is
// answered from the server's duplicate table instead of executed again.
type RequestID struct {
	Client string
	Seq    uint64
	Low    uint64
}

type requestIDKey struct{}

// WithRequestID makes the external call made with ctx carry id instead of
// the client's own numbering. A client with a recovery unit ignores it
// (its requests belong to its RU). id needs a Client and a Seq.
func WithRequestID(ctx context.Context, id RequestID) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// requestIDOf returns the identity ctx carries for an external call.
func requestIDOf(ctx context.Context) (RequestID, bool) {
	id, ok := ctx.Value(requestIDKey{}).(RequestID)
	return id, ok && id.Client != "" && id.Seq != 0
}
