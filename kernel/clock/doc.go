// Package clock is the time seam of the system: every component that waits,
// times out or ticks takes a Clock, so tests drive time by hand with a Manual
// clock instead of sleeping.
//
// Invariants: a Manual clock never moves by itself; Advance fires every timer
// whose deadline is reached, in deadline order, before it returns.
package clock
