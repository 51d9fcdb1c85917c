package lease

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Options tune Run. The zero value is the default.
type Options struct {
	// Capacity is the most units this worker holds at once (default: all).
	Capacity int
	// Scan is how often Run looks for free units (default TTL/2). It also looks
	// at once when the bucket reports a lease released or expired.
	Scan time.Duration
	// RetryAfter is how long this worker leaves a unit alone after its run
	// returned by itself (an error, or the unit ended), so that a failing unit
	// does not spin (default Scan). Other workers may take it meanwhile.
	RetryAfter time.Duration
	// Report, when set, is told what happens to the leases; it must not block.
	Report func(Event)
}

// Event is something that happened to one of Run's leases.
type Event struct {
	Unit string // "" for an Error not about one unit
	Kind EventKind
	Err  error // the run's error for Ended; the failure for Lost and Error
}

// EventKind says what an Event is.
type EventKind int

const (
	// Acquired: the worker took the unit's lease and starts its run.
	Acquired EventKind = iota + 1
	// Lost: the lease was lost; the run's context is cancelled (cause ErrLost).
	Lost
	// Ended: the run returned (Err is its error) while the lease was held.
	Ended
	// Released: the lease was given up after the run ended.
	Released
	// Error: a scan, renewal or release failed; Run carries on (a lease whose
	// renewals keep failing is Lost at its deadline).
	Error
)

func (k EventKind) String() string {
	switch k {
	case Acquired:
		return "acquired"
	case Lost:
		return "lost"
	case Ended:
		return "ended"
	case Released:
		return "released"
	case Error:
		return "error"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Run holds leases on units for worker and runs each unit it holds with run,
// until ctx ends. It claims free units up to Capacity, runs each in its own
// goroutine with a context cancelled (cause ErrLost) the moment its lease is
// lost — a renewal refused, or the deadline passed without a successful one —
// and renews every lease at TTL/3. It keeps looking for units whose leases were
// released or expired, so a dead worker's units move to a survivor within
// TTL + Scan (at once on a release).
//
// When ctx ends, Run cancels every run's context, keeps renewing the leases
// until each run has returned, releases them, and returns nil. run must stop
// the unit's work once its context is done; when it returns by itself the lease
// is released and the unit is left to other workers for RetryAfter. Run returns
// an error only when it cannot start: a bad units list or an unreadable bucket.
func Run(ctx context.Context, kv jetstream.KeyValue, worker string, units []string, run func(ctx context.Context, unit string) error, opts Options) error {
	seen := make(map[string]bool, len(units))
	for i, u := range units {
		if u == "" {
			return fmt.Errorf("lease: units[%d]: empty unit name", i)
		}
		if seen[u] {
			return fmt.Errorf("lease: units[%d]: unit %q listed twice", i, u)
		}
		seen[u] = true
	}
	ttl, err := bucketTTL(ctx, kv)
	if err != nil {
		return err
	}
	if opts.Capacity <= 0 {
		opts.Capacity = len(units)
	}
	if opts.Scan <= 0 {
		opts.Scan = ttl / 2
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = opts.Scan
	}
	if opts.Report == nil {
		opts.Report = func(Event) {}
	}
	w, err := kv.WatchAll(ctx, jetstream.UpdatesOnly(), jetstream.MetaOnly())
	if err != nil {
		return fmt.Errorf("lease: bucket %s: watch: %w", kv.Bucket(), err)
	}
	defer w.Stop()
	freed := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e != nil && e.Operation() != jetstream.KeyValuePut {
					select {
					case freed <- struct{}{}:
					default:
					}
				}
			case <-ctx.Done():
				return
			}
		}
	}()

	r := &runner{
		kv: kv, ttl: ttl, worker: worker, units: units, run: run, opts: opts,
		held:      make(map[string]bool),
		notBefore: make(map[string]time.Time),
		ended:     make(chan ended, len(units)),
	}
	tick := time.NewTicker(opts.Scan)
	defer tick.Stop()
	for {
		r.scan(ctx)
		select {
		case <-ctx.Done():
			for len(r.held) > 0 {
				r.end(<-r.ended)
			}
			return nil
		case e := <-r.ended:
			r.end(e)
		case <-tick.C:
		case <-freed:
		}
	}
}

type runner struct {
	kv     jetstream.KeyValue
	ttl    time.Duration
	worker string
	units  []string
	run    func(context.Context, string) error
	opts   Options

	// Owned by Run's loop.
	held      map[string]bool
	notBefore map[string]time.Time
	ended     chan ended
}

type ended struct {
	unit  string
	retry bool // the run returned by itself: leave the unit for RetryAfter
}

func (r *runner) end(e ended) {
	delete(r.held, e.unit)
	if e.retry {
		r.notBefore[e.unit] = time.Now().Add(r.opts.RetryAfter)
	}
}

// scan takes free units until the worker holds Capacity.
func (r *runner) scan(ctx context.Context) {
	if len(r.held) >= r.opts.Capacity || ctx.Err() != nil {
		return
	}
	taken, err := r.leased(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.opts.Report(Event{Kind: Error, Err: err})
		}
		return
	}
	now := time.Now()
	// Start at a random unit, so that workers scanning together spread out.
	start := rand.IntN(len(r.units))
	for i := range r.units {
		u := r.units[(start+i)%len(r.units)]
		if r.held[u] || taken[Key(u)] || now.Before(r.notBefore[u]) {
			continue
		}
		l, err := acquire(ctx, r.kv, r.ttl, u, r.worker)
		if errors.Is(err, ErrHeld) {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				r.opts.Report(Event{Unit: u, Kind: Error, Err: err})
			}
			return
		}
		delete(r.notBefore, u)
		r.held[u] = true
		r.opts.Report(Event{Unit: u, Kind: Acquired})
		go r.keep(ctx, l)
		if len(r.held) >= r.opts.Capacity {
			return
		}
	}
}

// leased returns the keys of the leases held now (by anyone).
func (r *runner) leased(ctx context.Context) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, r.ttl)
	defer cancel()
	kl, err := r.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("lease: bucket %s: list: %w", r.kv.Bucket(), err)
	}
	defer kl.Stop()
	keys := make(map[string]bool)
	for k := range kl.Keys() {
		keys[k] = true
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("lease: bucket %s: list: %w", r.kv.Bucket(), ctx.Err())
	}
	return keys, nil
}

// keep runs l's unit and renews l until the run returns, the lease is lost, or
// stop ends (then it cancels the run and keeps the lease until the run returns).
func (r *runner) keep(stop context.Context, l *Lease) {
	// KV calls outlive stop: a stopping run's lease is renewed and released.
	base := context.WithoutCancel(stop)
	runCtx, cancel := context.WithCancelCause(base)
	defer cancel(nil)
	done := make(chan error, 1)
	go func() { done <- r.run(runCtx, l.unit) }()

	// The deadline cancels the run from its own goroutine, on time even while
	// a renewal is under way.
	expire := time.AfterFunc(time.Until(l.Deadline()), func() {
		cancel(fmt.Errorf("%w: unit %q: not renewed within its TTL", ErrLost, l.unit))
	})
	defer expire.Stop()
	renew := time.NewTimer(r.ttl / 3)
	defer renew.Stop()
	stopping, cancelled := stop.Done(), runCtx.Done()
	for {
		select {
		case err := <-done:
			if !expire.Stop() {
				r.lost(l, runCtx, nil)
				return
			}
			r.opts.Report(Event{Unit: l.unit, Kind: Ended, Err: err})
			rctx, c := context.WithTimeout(base, r.ttl)
			if err := l.Release(rctx); err != nil {
				r.opts.Report(Event{Unit: l.unit, Kind: Error, Err: err})
			} else {
				r.opts.Report(Event{Unit: l.unit, Kind: Released})
			}
			c()
			r.ended <- ended{unit: l.unit, retry: stop.Err() == nil}
			return
		case <-stopping:
			stopping = nil
			cancel(stop.Err())
		case <-cancelled:
			cancelled = nil
			if errors.Is(context.Cause(runCtx), ErrLost) {
				r.lost(l, runCtx, done)
				return
			}
		case <-renew.C:
			rctx, c := context.WithDeadline(base, l.Deadline())
			err := l.Renew(rctx)
			c()
			switch {
			case errors.Is(err, ErrLost):
				cancel(err)
				r.lost(l, runCtx, done)
				return
			case err != nil:
				r.opts.Report(Event{Unit: l.unit, Kind: Error, Err: err})
				renew.Reset(r.ttl / 10)
			case !expire.Stop(): // renewed, but the deadline had already cancelled the run
				r.lost(l, runCtx, done)
				return
			default:
				expire.Reset(time.Until(l.Deadline()))
				renew.Reset(r.ttl / 3)
			}
		}
	}
}

// lost reports a lost lease (its run's context is cancelled), waits for the run
// to return (done nil: it has), and tells Run.
func (r *runner) lost(l *Lease, runCtx context.Context, done <-chan error) {
	r.opts.Report(Event{Unit: l.unit, Kind: Lost, Err: context.Cause(runCtx)})
	if done != nil {
		<-done
	}
	r.ended <- ended{unit: l.unit, retry: true}
}
