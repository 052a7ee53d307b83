package clock

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestManualFiresInDeadlineOrder(t *testing.T) {
	c := NewManual(time.Unix(0, 0))
	var got []int
	c.AfterFunc(3*time.Second, func() { got = append(got, 3) })
	c.AfterFunc(1*time.Second, func() { got = append(got, 1) })
	stopped := c.AfterFunc(2*time.Second, func() { got = append(got, 2) })
	require.True(t, stopped.Stop())
	require.False(t, stopped.Stop())
	c.Advance(2 * time.Second)
	require.Equal(t, []int{1}, got)
	require.Equal(t, time.Unix(2, 0), c.Now())
	c.Advance(time.Second)
	require.Equal(t, []int{1, 3}, got)
	require.Equal(t, 0, c.Pending())
}

func TestManualTimerMayScheduleAnother(t *testing.T) {
	c := NewManual(time.Unix(0, 0))
	fired := 0
	c.AfterFunc(time.Second, func() {
		fired++
		c.AfterFunc(time.Second, func() { fired++ })
	})
	c.Advance(5 * time.Second)
	require.Equal(t, 2, fired)
}

func TestManualAfter(t *testing.T) {
	c := NewManual(time.Unix(0, 0))
	ch := c.After(time.Minute)
	select {
	case <-ch:
		t.Fatal("fired before Advance")
	default:
	}
	c.Advance(time.Minute)
	require.Equal(t, time.Unix(60, 0), <-ch)
}
