package takeoverid

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"go.uber.org/zap"
)

// Key is the log field that carries the id.
const Key = "takeover_id"

// New is the id of the takeover that follows peer's death declared at at.
func New(peer string, at time.Time) string {
	h := fnv.New32a()
	_, _ = fmt.Fprintf(h, "%s@%d", peer, at.UnixNano())
	return fmt.Sprintf("%08x", h.Sum32())
}

type ctxKey struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext is the id ctx carries ("" when none).
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// Field is the log field of the id ctx carries, or zap.Skip() when it
// carries none.
func Field(ctx context.Context) zap.Field {
	return Of(FromContext(ctx))
}

// Of is the log field of id, or zap.Skip() when id is "".
func Of(id string) zap.Field {
	if id == "" {
		return zap.Skip()
	}
	return zap.String(Key, id)
}
