package node

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/publish"
	"github.com/ftm-in-go/ftm/servers"
)

type nopMachine struct{}

func (nopMachine) Handle(*publish.Env, *kernel.Message) error { return nil }
func (nopMachine) Snapshot() ([]byte, error)                  { return nil, nil }
func (nopMachine) Restore([]byte) error                       { return nil }

func newNop() publish.Machine { return nopMachine{} }

func nopServer(servers.Config) (Service, error) { return nil, nil }

// A published program's name is unique among the servers and published
// programs (both run as BANK/NAME), without '/', with a constructor.
func TestPublishedRegistrationChecked(t *testing.T) {
	r, err := newRegistry([]Registration{Published("acc", newNop), Published("other", newNop)})
	require.NoError(t, err)
	require.Len(t, r.pubs, 2)
	for name, regs := range map[string][]Registration{
		"repeated":       {Published("acc", newNop), Published("acc", newNop)},
		"a server's":     {Server("acc", nopServer), Published("acc", newNop)},
		"the app unit's": {Published(appName, newNop)},
		"with a slash":   {Published("a/b", newNop)},
		"empty":          {Published("", newNop)},
		"no constructor": {Published("acc", nil)},
	} {
		_, err := newRegistry(regs)
		require.ErrorIs(t, err, ErrRegistration, name)
	}
}
