package main

import (
	"bytes"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// notePrefix starts the lines a table's printer adds about the table
// ("note: node beta holds bank ..."): they go to stderr, so that stdout
// holds only the table a script reads.
const notePrefix = "note: "

// notesToStderr runs print with a writer that sends its note lines to the
// command's stderr and everything else to its stdout. (watch prints the
// same tables with their notes into its screen.)
func notesToStderr(cmd *cobra.Command, print func(w io.Writer) error) error {
	s := &noteSplitter{out: cmd.OutOrStdout(), notes: cmd.ErrOrStderr()}
	err := print(s)
	if ferr := s.flush(); err == nil {
		err = ferr
	}
	return err
}

// noteSplitter routes whole lines: note lines to notes, others to out.
type noteSplitter struct {
	out, notes io.Writer
	partial    []byte
}

func (s *noteSplitter) Write(p []byte) (int, error) {
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		if err := s.route(s.partial[:i+1]); err != nil {
			return 0, err
		}
		s.partial = s.partial[i+1:]
	}
}

func (s *noteSplitter) route(line []byte) error {
	w := s.out
	if strings.HasPrefix(string(line), notePrefix) {
		w = s.notes
	}
	_, err := w.Write(line)
	return err
}

// flush writes out a last line that had no newline.
func (s *noteSplitter) flush() error {
	if len(s.partial) == 0 {
		return nil
	}
	err := s.route(s.partial)
	s.partial = nil
	return err
}
