package takeoverid

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// One death, one id; the id reaches a log line through the context, and
// a line outside a takeover carries no field.
func TestIDTravelsThroughTheContext(t *testing.T) {
	at := time.Unix(1700000000, 42)
	id := New("n1", at)
	require.Regexp(t, `^[0-9a-f]{8}$`, id)
	require.Equal(t, id, New("n1", at), "the same death, the same id")
	require.NotEqual(t, id, New("n1", at.Add(time.Nanosecond)))
	require.NotEqual(t, id, New("n2", at))

	core, logs := observer.New(zapcore.InfoLevel)
	log := zap.New(core)
	ctx := With(context.Background(), id)
	log.Info("inside", Field(ctx))
	log.Info("outside", Field(context.Background()))
	entries := logs.All()
	require.Equal(t, map[string]any{Key: id}, entries[0].ContextMap())
	require.Empty(t, entries[1].ContextMap())
	require.Equal(t, "", FromContext(context.Background()))
}
