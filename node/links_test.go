package node

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// A restarted node waits for its address: the SIGKILLed process it replaces
// may still hold it for a moment.
func TestListenLinkWaitsForTheAddress(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := held.Addr().String()
	go func() { time.Sleep(200 * time.Millisecond); held.Close() }()
	l, err := nodeLinks{name: "n1", secret: []byte("secret-secret-secret"), log: zap.NewNop()}.listen(addr)
	require.NoError(t, err, "the address was released after 200ms")
	require.NoError(t, l.(tcpListener).Close())
}
