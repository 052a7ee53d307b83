package tasktest

import (
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/stm/stmtest"
)

// Units is one driver over a mirrored bank: task.Units for every bank name.
type Units struct {
	Bank   *stm.Bank
	driver *servers.Driver
}

// Driver returns the one driver, whatever the bank's name (task.Units).
func (u *Units) Driver(string) *servers.Driver { return u.driver }

// NewUnits starts a kernel node, a mirrored bank and a driver named "b"
// over it (protocol tick 50 ms), all stopped at t's cleanup.
func NewUnits(t testing.TB) *Units {
	t.Helper()
	node := kernel.NewNode(kernel.Config{Name: "n1"})
	kt, err := node.NewTask("servers/b")
	if err != nil {
		t.Fatal(err)
	}
	bank, _ := stmtest.Mirrored(t)
	d, err := servers.NewDriver(servers.DriverConfig{Host: "b", Task: kt, Bank: bank, Names: names.NewKernel(kt, zap.NewNop()),
		TickPeriod: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	t.Cleanup(func() { d.Close(); kt.Terminate(); node.Shutdown() })
	return &Units{Bank: bank, driver: d}
}
