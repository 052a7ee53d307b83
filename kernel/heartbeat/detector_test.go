package heartbeat

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Unix(1000, 0)

func TestDetectorSendsEveryPeriod(t *testing.T) {
	d := NewDetector(Config{Period: 10 * time.Millisecond, Timeout: time.Second}, t0)
	var seqs []uint64
	for ms := 0; ms <= 35; ms += 5 {
		now := t0.Add(time.Duration(ms) * time.Millisecond)
		d.Heard(now)
		if seq, died := d.Tick(now); seq > 0 {
			require.False(t, died)
			seqs = append(seqs, seq)
		}
	}
	require.Equal(t, []uint64{1, 2, 3, 4}, seqs, "sent at 0, 10, 20, 30 ms")
}

func TestDetectorDeclaresDeathOnceAfterTimeout(t *testing.T) {
	d := NewDetector(Config{Period: 10 * time.Millisecond, Timeout: 50 * time.Millisecond}, t0)
	d.Heard(t0.Add(20 * time.Millisecond))
	_, died := d.Tick(t0.Add(69 * time.Millisecond))
	require.False(t, died, "49ms of silence is under the timeout")
	_, died = d.Tick(t0.Add(70 * time.Millisecond))
	require.True(t, died)
	require.True(t, d.Dead())
	seq, died := d.Tick(t0.Add(time.Second))
	require.False(t, died, "death is declared once")
	require.Zero(t, seq, "a dead partner gets no more heartbeats")
}

func TestDetectorIgnoresHeartbeatFromThePast(t *testing.T) {
	d := NewDetector(Config{Period: 10 * time.Millisecond, Timeout: 50 * time.Millisecond}, t0)
	d.Heard(t0.Add(40 * time.Millisecond))
	d.Heard(t0.Add(10 * time.Millisecond))
	require.Equal(t, 10*time.Millisecond, d.Silence(t0.Add(50*time.Millisecond)))
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	require.Equal(t, DefaultPeriod, c.Period)
	require.Equal(t, DefaultMissedPeriod*DefaultPeriod, c.Timeout)
}
