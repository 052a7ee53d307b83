package servers

import (
	"errors"
	"fmt"
	"runtime/debug"

	"go.uber.org/zap"
)

// Containment: a handler that panics fails its call and crashes its
// server's recovery unit only. The unit restarts at once from its record,
// as after a crash of its process: its RU aborts (every RU that depends on
// it with it) and S goes back to its last committed version. The node,
// the driver and the other servers on it keep running.

// ErrHandlerPanicked is what a client's call returns (inside a
// *RemoteError, with the panic value in its message) when the handler
// panicked. The call's effects are rolled back with the server's RU; the
// client does not retry it (the same request would panic again).
var ErrHandlerPanicked = errors.New("servers: handler panicked")

// panicked is a recovered panic of a handler.
type panicked struct {
	value any
	stack []byte
}

// callHandler runs h on the call, turning a panic into p (non-nil).
func callHandler[S any](h *handler[S], c *Call, s *S, body []byte) (out []byte, err error, p *panicked) {
	defer func() {
		if v := recover(); v != nil {
			out, err, p = nil, nil, &panicked{value: v, stack: debug.Stack()}
		}
	}()
	out, err = h.fn(c, s, body)
	return out, err, nil
}

// panicReply is the reply to a call whose handler panicked: an
// application error the client sees as ErrHandlerPanicked with the value.
func panicReply(server, method string, p *panicked) reply {
	return reply{Status: statusAppError, Code: errorCode(ErrHandlerPanicked),
		Err: fmt.Sprintf("%v in %s.%s: %v", ErrHandlerPanicked, server, method, p.value)}
}

// containPanic logs a handler's panic and crashes the call's unit: the
// call ends, the unit restarts from its record (its RU aborts, S is
// reloaded from its last committed version now that no call runs).
func (s *Server[S]) containPanic(sc *servedCall, p *panicked) {
	s.log.Error("handler panicked: its call fails and the server's recovery unit restarts",
		zap.String("method", sc.req.Method), zap.Any("panic", p.value), zap.ByteString("stack", p.stack))
	s.cfg.Driver.crashCall(sc)
}

// crashCall ends a served call by crashing its unit, which restarts at
// once (restartLocked): the restart reloads S, as no call runs any more,
// and aborts the unit's RU. A unit gone meanwhile (its server stopped)
// is left alone.
func (d *Driver) crashCall(c *servedCall) {
	d.mu.Lock()
	c.owner.setBusy(false)
	if ui := d.units[c.unit]; ui != nil {
		ui.reload, ui.hook = false, nil // the restart reloads S itself
		d.host.Crash(c.unit)
	}
	envs, _ := d.flushLocked()
	d.mu.Unlock()
	d.send(envs)
}
