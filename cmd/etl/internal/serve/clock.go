package serve

import (
	"context"
	"time"

	"github.com/robfig/cron/v3"
)

// Clock is the time source of schedules: the real clock in production, a
// controllable one in tests.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// runSchedule calls fire at every time sched names, until ctx ends. It uses
// robfig/cron's parsed Schedule (Next) with its own loop rather than cron.Cron,
// because cron.Cron reads the wall clock directly and cannot be driven by a
// test clock. A firing missed while fire ran (or while the clock jumped) is
// run once, not once per missed time, as cron.Cron does too.
func runSchedule(ctx context.Context, clock Clock, sched cron.Schedule, fire func(at time.Time)) {
	for {
		now := clock.Now()
		next := sched.Next(now)
		if next.IsZero() {
			return // a spec that never fires again
		}
		select {
		case <-ctx.Done():
			return
		case <-clock.After(next.Sub(now)):
			fire(next)
		}
	}
}
