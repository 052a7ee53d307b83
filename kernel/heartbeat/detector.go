package heartbeat

import (
	"time"
)

// Defaults for Config fields left zero.
const (
	DefaultPeriod       = 50 * time.Millisecond
	DefaultMissedPeriod = 20
)

// Config sets how often heartbeats go out and how long silence means death.
type Config struct {
	// Period between two heartbeats sent to the partner (default 50ms).
	Period time.Duration
	// Timeout of silence after which the partner is dead (default 20
	// periods: a loaded machine can stall a process for a few hundred ms, and
	// a killed partner is noticed at once anyway, when its link breaks).
	Timeout time.Duration
	// OnRoundTrip, when set, is told each heartbeat's round trip: a
	// watcher echoes every beat it receives, and the sender times the
	// echo. For metrics: it runs on the receiving goroutine and must not
	// block.
	OnRoundTrip func(time.Duration)
}

func (c Config) withDefaults() Config {
	if c.Period <= 0 {
		c.Period = DefaultPeriod
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultMissedPeriod * c.Period
	}
	return c
}

// Detector is the failure detector's state machine. It reads no clock and
// starts no goroutine; the caller passes the time in.
type Detector struct {
	cfg       Config
	lastHeard time.Time // when the partner was last heard from (or start)
	nextSend  time.Time // when the next heartbeat is due
	sent      uint64    // heartbeats sent so far (also their sequence numbers)
	dead      bool      // death has been declared
}

// NewDetector starts a detector at now; the partner gets a full Timeout to be
// heard from.
func NewDetector(cfg Config, now time.Time) *Detector {
	cfg = cfg.withDefaults()
	return &Detector{cfg: cfg, lastHeard: now, nextSend: now}
}

// Heard records a heartbeat (or any sign of life) from the partner.
func (d *Detector) Heard(now time.Time) {
	if now.After(d.lastHeard) {
		d.lastHeard = now
	}
}

// Tick advances the detector to now. It returns seq > 0 when a heartbeat with
// that sequence number should be sent, and died = true exactly once, when the
// partner's silence first exceeds the timeout.
func (d *Detector) Tick(now time.Time) (seq uint64, died bool) {
	if d.dead {
		return 0, false
	}
	if now.Sub(d.lastHeard) >= d.cfg.Timeout {
		d.dead = true
		return 0, true
	}
	if !now.Before(d.nextSend) {
		d.sent++
		d.nextSend = now.Add(d.cfg.Period)
		seq = d.sent
	}
	return seq, false
}

// Dead reports whether death has been declared.
func (d *Detector) Dead() bool { return d.dead }

// Silence is how long the partner has not been heard from at now.
func (d *Detector) Silence(now time.Time) time.Duration { return now.Sub(d.lastHeard) }

// Period is the configured heartbeat period.
func (d *Detector) Period() time.Duration { return d.cfg.Period }
