package pair

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/link"
	"github.com/ftm-in-go/ftm/stm"
)

// A bank's mirror channel can close while the pair link lives: stm's
// RemoteMirror closes it when a commit's context ends while it waits for
// the backup, and the bank then refuses commits until a backup is attached
// again. So both sides restart mirroring on that service: the primary
// reopens its channel and attaches again (after a pause, with a timeout,
// since frames sent while the partner's channel was closed are dropped);
// the backup side, whose ServeBackup refuses the new mirror's restarted
// sequence numbers (stm.ErrCorrupt) and returns, reopens at once and
// serves a fresh backup bank, keeping the last complete copy as a fallback
// until the new one is complete.

// reattachPause is the primary's first pause before attaching again; it
// grows with consecutive failures up to reattachMaxPause.
const (
	reattachPause    = 20 * time.Millisecond
	reattachMaxPause = time.Second
)

// mirrorChannel is the channel one bank's mirror runs on, in one session
// with the partner; reopen replaces ch when it ends.
type mirrorChannel struct {
	sess *session
	bank string
	ch   link.Link
	svc  link.Service // the service ch is opened on
}

// serveBackup serves the partner's mirror of bank mc.bank until the link
// ends, serving a fresh backup each time the partner restarts its mirror.
func (s *Stable) serveBackup(ctx context.Context, mc *mirrorChannel, bk *stm.Backup) {
	for {
		err := stm.ServeBackup(ctx, mc.ch, bk)
		s.log.Info("backup stream ended", zap.String("bank", mc.bank), zap.Bool("ready", bk.Ready()), zap.Error(err))
		if !s.reopen(ctx, mc, 0) {
			return
		}
		bk = s.renewBackup(mc.sess, mc.bank, bk)
		s.log.Info("serving a fresh backup for the partner's restarted mirror", zap.String("bank", mc.bank))
	}
}

// renewBackup replaces the backup of bank name, keeping the old one as the
// fallback if it is complete.
func (s *Stable) renewBackup(sess *session, name string, old *stm.Backup) *stm.Backup {
	bk := s.newBackup(sess, name)
	if old.Ready() {
		s.mu.Lock()
		sess.fallback[name] = old
		s.mu.Unlock()
	}
	return bk
}

// attach keeps the partner's backup attached to our bank mc.bank for as
// long as the link lives.
func (s *Stable) attach(ctx context.Context, mc *mirrorChannel) {
	if mc.bank == s.cfg.Name && !s.awaitClaim(ctx, mc.sess) {
		_ = mc.ch.Close()
		return
	}
	fails := 0
	for attempt := 1; ; attempt++ {
		if s.Bank(mc.bank) == nil { // closed
			_ = mc.ch.Close()
			return
		}
		if s.attachOnce(ctx, mc, attempt) {
			fails = 0
		} else {
			fails++
		}
		pause := min(reattachPause*time.Duration(max(fails, 1)), reattachMaxPause)
		if !s.reopen(ctx, mc, pause) {
			return
		}
	}
}

// attachOnce attaches the partner's backup over mc.ch and waits until the
// mirror channel ends; it reports whether the attach succeeded.
func (s *Stable) attachOnce(ctx context.Context, mc *mirrorChannel, attempt int) bool {
	b := s.Bank(mc.bank)
	if b == nil {
		return false
	}
	actx, cancel := ctx, context.CancelFunc(func() {})
	if attempt > 1 { // the partner may have dropped our first frames
		actx, cancel = context.WithTimeout(ctx, s.cfg.HelloTimeout)
	}
	if err := s.cfg.Failpoint.At(FPAttachBegin, mc.bank); err != nil {
		cancel()
		s.setMirror(mc.sess, mc.bank, MirrorLost)
		s.log.Warn("attach abandoned at a failpoint", zap.String("bank", mc.bank), zap.Int("attempt", attempt), zap.Error(err))
		return false
	}
	start := s.cfg.Clock.Now()
	s.setMirror(mc.sess, mc.bank, MirrorCopying)
	var m stm.Mirror = stm.NewRemoteMirror(mc.ch, s.remoteConfig(mc.bank))
	if s.clustered() {
		m = newPacedMirror(m) // commits pass the copy (paced.go)
	}
	err := b.Attach(actx, m)
	cancel()
	if err != nil {
		s.setMirror(mc.sess, mc.bank, MirrorLost)
		s.log.Warn("cannot attach the partner's backup", zap.String("bank", mc.bank), zap.Int("attempt", attempt), zap.Error(err))
		return false
	}
	if err := s.cfg.Failpoint.At(FPAttachCopied, mc.bank); err != nil {
		_ = mc.ch.Close()
		s.setMirror(mc.sess, mc.bank, MirrorLost)
		s.log.Warn("attach abandoned at a failpoint", zap.String("bank", mc.bank), zap.Int("attempt", attempt), zap.Error(err))
		return false
	}
	st := b.Stats()
	s.setMirror(mc.sess, mc.bank, MirrorAttached)
	s.recordBackup(ctx, mc.sess, mc.bank)
	s.log.Info("bank protected: partner holds its backup", zap.String("bank", mc.bank), zap.Int("attempt", attempt),
		zap.Int("objects", st.Objects), zap.Uint64("seq", st.Seq), zap.Duration("copy", s.cfg.Clock.Now().Sub(start)))
	select {
	case <-mc.ch.Done():
		s.setMirror(mc.sess, mc.bank, MirrorLost)
		if !s.linkEnded(ctx, mc.sess) {
			s.log.Warn("mirror closed while the partner is linked (a commit's context ended?); attaching again", zap.String("bank", mc.bank))
		}
	case <-ctx.Done():
	}
	return true
}

// reopen closes mc.ch and, unless the link or ctx ended, opens the bank's
// service again after pause; it reports whether mc.ch is open again.
func (s *Stable) reopen(ctx context.Context, mc *mirrorChannel, pause time.Duration) bool {
	_ = mc.ch.Close() // before reopening: closing a channel unregisters its service
	if pause > 0 {
		select {
		case <-ctx.Done():
		case <-mc.sess.mux.Link().Done():
		case <-s.cfg.Clock.After(pause):
		}
	}
	if s.linkEnded(ctx, mc.sess) {
		return false
	}
	nc, err := mc.sess.mux.Channel(mc.svc)
	if err != nil {
		s.log.Error("cannot reopen the STM service", zap.String("bank", mc.bank), zap.Error(err))
		return false
	}
	mc.ch = stmLink{nc}
	return true
}

// linkEnded reports whether the session's link or ctx has ended.
func (s *Stable) linkEnded(ctx context.Context, sess *session) bool {
	select {
	case <-ctx.Done():
		return true
	case <-sess.mux.Link().Done():
		return true
	default:
		return false
	}
}
