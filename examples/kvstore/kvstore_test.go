package main

import (
	"context"
	"strings"
	"testing"
)

// The demo tells what survived the server's crash: the checkpointed and
// the acknowledged updates, not the unfinished RU's (which aborted).
func TestDemo(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"app: put apples=10, checkpoint committed",
		"external: add pears+3 acknowledged (already in STM)",
		"app: put apples=99, no checkpoint yet",
		"server: crashed and restarted from STM",
		"aborted with the server's lost one",
		"after restart: apples=10",
		"after restart: pears=3",
	}
	for _, line := range want {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q:\n%s", line, out.String())
		}
	}
}
