package asitest

import (
	"sync"
	"time"
)

// Clock is the emulator's simulated time. It decides which data exists (a
// device has recorded only up to Now), which time frames are finished, and it
// is what the emulator writes in every answer's Date header, so that a client
// judging "finished" by the server's clock agrees with the emulator. It moves
// only when told to (Set, Advance), so tests are deterministic; the live
// streams drive it forward at a chosen speed.
//
// Token lifetimes are not on this clock: OAuth clients check expiry against
// the real time, so the emulator does too.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{now: t.UTC()} }

// Now returns the simulated time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t (also backwards).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t.UTC()
}

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// advanceTo moves the clock forward to t if it shows an earlier time.
func (c *Clock) advanceTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t.UTC()
	}
}
