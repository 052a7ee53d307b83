// Command ftmnode is the default node binary: one node of a stable pair
// carrying the demos, registered through the node package's public API as
// any user's binary registers its own programs and servers. `ftmctl pair
// up` starts two of them (or two of any node binary given by --exec).
//
// It carries the stable programs primes (the paper's prime computation),
// mp3d (the paper's rarefied-gas simulation, examples/mp3d) and edit (the
// editor; `ftmctl edit` starts it), the control routes the editor's
// terminal attaches through, the reliable key-value server of
// examples/kvstore, BANK/kv on every bank (`ftmctl kv`), and the editor's
// reliable screen and file servers, BANK/screen and BANK/files.
package main

import (
	"os"

	"github.com/ftm-in-go/ftm/examples/kvstore/kv"
	"github.com/ftm-in-go/ftm/examples/mp3d/sim"
	"github.com/ftm-in-go/ftm/examples/primes/sieve"
	"github.com/ftm-in-go/ftm/internal/failpoint"
	"github.com/ftm-in-go/ftm/node"
)

// version is set at link time by the Makefile (-X main.version=...).
var version = "dev"

func main() {
	node.Main(
		node.Version(version),
		node.Failpoints(os.Getenv(failpoint.EnvVar), failpoint.Arm), // crash tests only
		node.Program("primes", sieve.Run).WithArgs(sieve.Args),
		node.Program("mp3d", sim.Run).WithArgs(sim.Args),
		node.ProgramEnv(editProgram, editor),
		node.Routes(editRoutes),
		node.Server(kv.Name, kv.New, node.Op(kv.Put), node.Op(kv.Add), node.Op(kv.Get), node.Op(kv.Len)),
		node.Server(screenServer, newScreenServer),
		node.Server(fileServer, newFileServer),
	)
}
