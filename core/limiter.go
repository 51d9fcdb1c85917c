package core

import (
	"context"
	"math"
	"time"

	"golang.org/x/time/rate"
)

// Limiter paces the requests of one API client so that they stay within the
// API's request budget.
type Limiter interface {
	// Wait blocks until one request may be sent, or ctx ends (and returns its
	// error). A noticeable wait is reported with ReportStatus.
	Wait(ctx context.Context) error
}

// Limiters makes the limiter of one request budget. key names the budget — the
// API and the client or account it is counted against, never a secret —
// perSecond and burst its size; perSecond <= 0 means no limit. A source calls
// Env.Limiter once per API client it makes.
//
// The default, LocalLimiters, paces this process only. A scale-out run shares
// one budget among all workers (cluster/ratelimit) by passing its own Limiters
// to Build with WithLimiters.
type Limiters func(key string, perSecond float64, burst int) Limiter

// LocalLimiters returns a new in-process token bucket (golang.org/x/time/rate)
// for each call.
func LocalLimiters(_ string, perSecond float64, burst int) Limiter {
	if perSecond <= 0 {
		return localLimiter{rate.NewLimiter(rate.Inf, 0)}
	}
	if burst <= 0 {
		burst = max(1, int(math.Ceil(perSecond)))
	}
	return localLimiter{rate.NewLimiter(rate.Limit(perSecond), burst)}
}

type localLimiter struct{ l *rate.Limiter }

// statusAfter is the wait from which a limiter says on the unit's status line
// that it is waiting.
const statusAfter = 50 * time.Millisecond

func (l localLimiter) Wait(ctx context.Context) error {
	r := l.l.Reserve()
	d := r.Delay()
	if d <= 0 {
		return nil
	}
	if err := SleepReporting(ctx, d, "waiting: request rate limit"); err != nil {
		r.Cancel()
		return err
	}
	return nil
}

// SleepReporting sleeps for d or until ctx ends, showing status on the unit's
// status line meanwhile when d is long enough to notice. Limiters use it.
func SleepReporting(ctx context.Context, d time.Duration, status string) error {
	if d >= statusAfter {
		ReportStatus(ctx, status)
		defer ReportStatus(ctx, "")
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
