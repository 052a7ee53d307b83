package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
)

func newLogsCmd() *cobra.Command {
	var dir string
	var follow bool
	cmd := &cobra.Command{
		Use: "logs NODE",
		Example: `  ftmctl logs alpha
  ftmctl logs alpha | jq -r 'select(.level=="warn") | .msg'`,
		Short: "Print a node's structured (JSON lines) log; -f follows it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := loadPair(dir)
			if err != nil {
				return err
			}
			n, err := st.Node(args[0])
			if err != nil {
				return err
			}
			f, err := os.Open(n.Log)
			if err != nil {
				return fmt.Errorf("node %s has no log yet: %w", n.Name, err)
			}
			defer f.Close()
			return copyLog(cmd.Context(), cmd.OutOrStdout(), f, follow)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", defaultDir(), "the pair's state directory")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing lines as the node writes them (Ctrl-C to stop)")
	return cmd
}

// copyLog copies the log to w and, when following, polls for more until ctx
// ends.
func copyLog(ctx context.Context, w io.Writer, r io.Reader, follow bool) error {
	for {
		if _, err := io.Copy(w, r); err != nil {
			return err
		}
		if !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil
			}
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
