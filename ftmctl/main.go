// Command ftmctl is the one binary of FTM in Go: it runs nodes and programs,
// inspects every layer of a running node and injects faults on purpose.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd(os.Stdout, os.Stderr).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "ftmctl:", err)
		os.Exit(exitCode(err))
	}
}
