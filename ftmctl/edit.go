package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/devices/screen"
	"github.com/ftm-in-go/ftm/examples/editor/emacs"
	"github.com/ftm-in-go/ftm/task"
)

func newEditCmd() *cobra.Command {
	var dir, node string
	cmd := &cobra.Command{
		Use:     "edit FILE",
		Example: `  ftmctl edit notes.txt         # kill the node mid-edit: the file survives`,
		Short:   "Edit FILE with the demo editor, a stable task on the pair, attached to this terminal",
		Long: `edit starts the demo editor (micro-emacs keys: C-x C-s saves, C-x C-c quits)
as a stable task on a node of the pair (the first by default) and attaches this
terminal to it (see ftmctl attach). The editor checkpoints after every burst of
keys; kill the node under it and it comes back on the survivor with every key
its screen echoed. Saves are atomic on disk.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			node, err := nodeToRun(dir, node)
			if err != nil {
				return err
			}
			file, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			w, h := editorSize(int(os.Stdin.Fd()))
			name := newSessionName()
			var rec task.Record
			req := runRequest{Program: editProgram, Args: []string{node, name, strconv.Itoa(w), strconv.Itoa(h), file}}
			if err := newControlClient(dir, node).post(cmd.Context(), "/run", req, &rec); err != nil {
				return err
			}
			return attachTerminal(cmd.Context(), dir, name, cmdTerminal(cmd))
		},
	}
	cmd.Flags().StringVar(&dir, "dir", defaultDir(), "the pair's state directory")
	cmd.Flags().StringVar(&node, "node", "", "node to run the editor on (default: the first)")
	return cmd
}

// editorSize is the terminal's size (80x24 when it is not a terminal),
// within what the editor supports.
func editorSize(fd int) (w, h int) {
	w, h, err := screen.TermSize(fd)
	if err != nil || w == 0 || h == 0 {
		w, h = 80, 24
	}
	return min(max(w, 10), emacs.MaxWidth), min(max(h, 3), emacs.MaxHeight)
}

func newSessionName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "ed-" + hex.EncodeToString(b)
}
