package pair

import (
	"context"

	"github.com/ftm-in-go/ftm/kernel/heartbeat"
	"github.com/ftm-in-go/ftm/kernel/link"
)

// ChainHooks calls each set of hooks in order (e.g. the kernel's ports and
// the Stable's STM banks on the same pair link). Nil hooks are skipped.
func ChainHooks(hs ...Hooks) Hooks {
	return Hooks{
		PartnerJoined: func(ctx context.Context, mux *link.Mux, epoch uint64) {
			for _, h := range hs {
				if h.PartnerJoined != nil {
					h.PartnerJoined(ctx, mux, epoch)
				}
			}
		},
		PartnerLost: func(ctx context.Context, d *heartbeat.Death, epoch uint64) {
			for _, h := range hs {
				if h.PartnerLost != nil {
					h.PartnerLost(ctx, d, epoch)
				}
			}
		},
	}
}
