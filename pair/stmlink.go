package pair

import (
	"context"

	"github.com/ftm-in-go/ftm/kernel/link"
)

// stmLink presents a Mux channel of any service to package stm, which tags
// its frames link.ServiceSTM and ignores frames tagged otherwise: Recv
// retags incoming frames, and the Mux channel retags outgoing ones with its
// own service.
type stmLink struct{ link.Link }

func (l stmLink) Recv(ctx context.Context) (link.Frame, error) {
	f, err := l.Link.Recv(ctx)
	if err == nil {
		f.Service = link.ServiceSTM
	}
	return f, err
}
