package servers

import (
	"testing"

	"go.uber.org/goleak"
)

// Every driver loop, server, reply goroutine and kernel node a test starts
// must be gone when the tests end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
