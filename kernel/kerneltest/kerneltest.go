package kerneltest

import (
	"testing"

	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/kernel/link"
)

// LinkedNodes is two kernel nodes named a and b, joined by an in-memory
// link; both are shut down when the test ends.
func LinkedNodes(t testing.TB, a, b string) (*kernel.Node, *kernel.Node) {
	t.Helper()
	na, nb := kernel.NewNode(kernel.Config{Name: a}), kernel.NewNode(kernel.Config{Name: b})
	t.Cleanup(na.Shutdown)
	t.Cleanup(nb.Shutdown)
	la, lb := link.NewMemPair(a, b, link.MemConfig{})
	if err := na.AttachLink(la); err != nil {
		t.Fatalf("kerneltest: attach node %s: %v", a, err)
	}
	if err := nb.AttachLink(lb); err != nil {
		t.Fatalf("kerneltest: attach node %s: %v", b, err)
	}
	return na, nb
}
