package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"
)

// Environment variables between the two processes.
const (
	envRole = "FTM_DEMO_ROLE" // "b" in the child
	envAddr = "FTM_DEMO_ADDR" // node A's listening address, for the child
	envLog  = "FTM_DEMO_LOG"  // "1": structured logs on stderr
	// envFailpoint names a failpoint for tests: "b-before-dial" makes node
	// B exit with an error before it dials node A.
	envFailpoint = "FTM_DEMO_FAILPOINT"
)

// Message ids of the demo's little protocol on B's "echo" port.
const (
	msgEcho      uint32 = 100 // body: text; B replies on the reply port with "echo: " + text
	msgTakeRight uint32 = 101 // Rights[0]: a send right; B sends msgHello through it
	msgHello     uint32 = 102 // from B to the port named by the right it was given
)

// demoTimeout bounds the whole demo; nothing in it should take more than a
// second or two.
const demoTimeout = 30 * time.Second

func main() {
	os.Exit(run(os.Stdout, os.Stderr))
}

// run plays the role the environment selects and returns the exit code.
func run(out, errOut io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), demoTimeout)
	defer cancel()
	log := zap.NewNop()
	if os.Getenv(envLog) == "1" {
		if l, err := zap.NewDevelopment(); err == nil {
			log = l
		}
	}
	var err error
	if os.Getenv(envRole) == "b" {
		err = runB(ctx, out, log)
	} else {
		err = runA(ctx, out, log)
	}
	if err != nil {
		fmt.Fprintf(errOut, "kerneldemo: %v\n", err)
		return 1
	}
	return 0
}

// say prints one plain line of the demo's story.
func say(out io.Writer, format string, args ...any) {
	fmt.Fprintf(out, format+"\n", args...)
}
