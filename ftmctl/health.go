package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit statuses of ftmctl health (any other failing command exits 1).
const (
	exitDegraded    = 1
	exitUnreachable = 2
)

// exitError is an error with the exit status the command wants.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode is the exit status for a command's error: 0 for none, the one
// an exitError carries, 1 otherwise.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	return 1
}

// healthReport is what ftmctl health found.
type healthReport struct {
	Health   string   `json:"health"` // healthy, degraded or unreachable
	Problems []string `json:"problems"`
}

func newHealthCmd() *cobra.Command {
	var dir, output string
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check the pair: exit 0 healthy, 1 degraded, 2 unreachable",
		Long: `health looks at every node of the pair once and exits with its verdict:

  0  healthy      both nodes run and are linked, every bank has its backup
                  attached and every node's reliable servers answer
  1  degraded     a node is down or not linked, a bank is unprotected (its
                  commits are refused) or its servers do not run yet
  2  unreachable  no node answers (or the pair's directory is missing)

It prints one short line per problem; -o json prints them as an object.`,
		Example: `  ftmctl health && echo ok
  ftmctl health -o json | jq -r .problems[]
  until ftmctl health >/dev/null; do sleep 1; done   # or: ftmctl wait ready`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, healthFormats...); err != nil {
				return err
			}
			rep, err := checkHealth(cmd.Context(), dir)
			if err != nil {
				return err
			}
			return printHealth(cmd.OutOrStdout(), output, rep)
		},
	}
	addPairFlags(cmd, &dir, &output, healthFormats...)
	return cmd
}

// healthFormats are health's -o values: its verdict is no listing.
var healthFormats = []string{"table", "json", "yaml"}

// checkHealth looks at the pair once. A wrong secret is an error, not a
// verdict.
func checkHealth(ctx context.Context, dir string) (healthReport, error) {
	st, err := loadPair(dir)
	if err != nil {
		return healthReport{}, &exitError{exitUnreachable, err}
	}
	for _, n := range st.Nodes {
		if alive(n.PID) {
			if row := queryStatusCtx(ctx, dir, n); errors.Is(row.err, errAuth) {
				return healthReport{}, row.err
			}
		}
	}
	p := lookAtPair(ctx, dir, st, levelReady)
	rep := healthReport{Health: "healthy", Problems: p.missing}
	switch {
	case p.answering == 0:
		rep.Health = "unreachable"
	case len(p.missing) > 0:
		rep.Health = "degraded"
	}
	if rep.Problems == nil {
		rep.Problems = []string{}
	}
	return rep, nil
}

// printHealth writes the verdict and returns the error that carries its
// exit status.
func printHealth(w io.Writer, output string, rep healthReport) error {
	if structured(output) {
		if err := printStructured(w, output, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(w, rep.Health)
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	switch rep.Health {
	case "unreachable":
		return &exitError{exitUnreachable, errors.New("pair unreachable: no node answers")}
	case "degraded":
		return &exitError{exitDegraded, fmt.Errorf("pair degraded: %d problem(s)", len(rep.Problems))}
	}
	return nil
}
