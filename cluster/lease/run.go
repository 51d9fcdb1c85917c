package lease

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// Options tune Run. The zero value is the default.
type Options struct {
	// Capacity is the most units this worker holds at once (default: all).
	Capacity int
	// Balance makes the worker hold no more than its share: the units divided
	// by the workers running Run with Balance and the same Group on the bucket
	// (rounded up). Each Run announces itself with a key renewed like a lease; a
	// worker over its share (another joined) stops and releases the extra units
	// (their contexts end with cause ErrRebalanced) for the newcomer to take, and
	// a dead worker's share is spread over the survivors once its key expires.
	Balance bool
	// Group names the workers that share one list of units, for Balance: Runs
	// of different pipelines on one bucket use different groups (default "").
	Group string
	// Scan is how often Run looks for free units (default TTL/2). It also looks
	// at once when the bucket reports a lease released or expired.
	Scan time.Duration
	// RetryAfter is how long this worker leaves a unit alone after its run
	// returned by itself (an error, or the unit ended), so that a failing unit
	// does not spin (default Scan). Other workers may take it meanwhile.
	RetryAfter time.Duration
	// Report, when set, is told what happens to the leases. It is called from
	// several goroutines, possibly at once, and must not block.
	Report func(Event)
}

// Event is something that happened to one of Run's leases.
type Event struct {
	Unit string // "" for an Error not about one unit
	Kind EventKind
	Err  error // the run's error for Ended; the failure for Lost and Error
}

// ErrRebalanced is the cause of a run's cancelled context when Run (with
// Options.Balance) gives the unit up for another worker to take.
var ErrRebalanced = errors.New("lease: unit given up to balance the workers")

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
		presence:  workerPrefix + "g" + base64.RawURLEncoding.EncodeToString([]byte(opts.Group)) + ".",
		held:      make(map[string]context.CancelCauseFunc),
		shedding:  make(map[string]bool),
		notBefore: make(map[string]time.Time),
		ended:     make(chan ended, len(units)),
	}
	if opts.Balance {
		stopPresence, err := r.announce(ctx)
		if err != nil {
			return err
		}
		defer stopPresence()
	}
	tick := time.NewTicker(opts.Scan)
	defer tick.Stop()
	for {
		r.scan(ctx)
		select {
		case <-ctx.Done():
			for len(r.held)+len(r.shedding) > 0 {
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
	// presence starts the presence keys of this Run's group.
	presence string

	// Owned by Run's loop.
	held      map[string]context.CancelCauseFunc // cancels the unit's run
	shedding  map[string]bool                    // units given up whose runs have not returned yet
	notBefore map[string]time.Time
	ended     chan ended
}

type ended struct {
	unit  string
	retry bool // the run returned by itself: leave the unit for RetryAfter
}

func (r *runner) end(e ended) {
	if r.shedding[e.unit] {
		delete(r.shedding, e.unit)
	} else {
		delete(r.held, e.unit)
	}
	if e.retry {
		r.notBefore[e.unit] = time.Now().Add(r.opts.RetryAfter)
	}
}

// scan takes free units until the worker holds its share (Capacity, or with
// Balance the units per worker, rounded up), or gives up units over its share.
func (r *runner) scan(ctx context.Context) {
	if ctx.Err() != nil || len(r.units) == 0 || !r.opts.Balance && len(r.held) >= r.opts.Capacity {
		return
	}
	taken, workers, err := r.leased(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.opts.Report(Event{Kind: Error, Err: err})
		}
		return
	}
	share := r.opts.Capacity
	if r.opts.Balance {
		share = min(share, (len(r.units)+max(workers, 1)-1)/max(workers, 1))
	}
	now := time.Now()
	for u, cancel := range r.held {
		if len(r.held) <= share {
			break
		}
		cancel(ErrRebalanced) // the keeper releases it once the run returns
		delete(r.held, u)
		r.shedding[u] = true
	}
	if len(r.held)+len(r.shedding) >= share {
		return
	}
	// Start at a random unit, so that workers scanning together spread out.
	start := rand.IntN(len(r.units))
	for i := range r.units {
		u := r.units[(start+i)%len(r.units)]
		if r.held[u] != nil || r.shedding[u] || taken[Key(u)] || now.Before(r.notBefore[u]) {
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
		runCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
		r.held[u] = cancel
		r.opts.Report(Event{Unit: u, Kind: Acquired})
		go r.keep(ctx, runCtx, cancel, l)
		if len(r.held)+len(r.shedding) >= share {
			return
		}
	}
}

// leased returns the keys of the unit leases held now (by anyone), and how many
// workers of this Run's group run Run with Balance on the bucket.
func (r *runner) leased(ctx context.Context) (units map[string]bool, workers int, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.ttl)
	defer cancel()
	kl, err := r.kv.ListKeys(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("lease: bucket %s: list: %w", r.kv.Bucket(), err)
	}
	defer kl.Stop()
	units = make(map[string]bool)
	for k := range kl.Keys() {
		switch {
		case strings.HasPrefix(k, r.presence):
			workers++
		case strings.HasPrefix(k, workerPrefix):
		default:
			units[k] = true
		}
	}
	if ctx.Err() != nil {
		return nil, 0, fmt.Errorf("lease: bucket %s: list: %w", r.kv.Bucket(), ctx.Err())
	}
	return units, workers, nil
}

// workerPrefix starts the keys by which Runs with Balance announce themselves:
// "w.g" + the group in URL-safe base64 + "." + a key of the Run's own.
const workerPrefix = "w."

// announce writes this Run's presence key (one per Run, even for one worker
// name) and renews it every TTL/3 until the stop returned is called, which
// deletes it.
func (r *runner) announce(ctx context.Context) (stop func(), err error) {
	key := r.presence + nuid.Next()
	val, err := json.Marshal(value{Worker: r.worker})
	if err != nil {
		return nil, fmt.Errorf("lease: worker %q: %w", r.worker, err)
	}
	rev, err := r.kv.Create(ctx, key, val)
	if err != nil {
		return nil, fmt.Errorf("lease: bucket %s: announce worker %q: %w", r.kv.Bucket(), r.worker, err)
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(r.ttl / 3)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
			}
			c, cancel := context.WithTimeout(context.Background(), r.ttl/3)
			n, err := r.kv.Update(c, key, val, rev)
			if errors.Is(err, jetstream.ErrKeyRevisionMismatch) { // expired meanwhile: again
				n, err = r.kv.Create(c, key, val)
			}
			cancel()
			if err != nil {
				r.opts.Report(Event{Kind: Error, Err: fmt.Errorf("lease: bucket %s: renew worker %q: %w", r.kv.Bucket(), r.worker, err)})
				continue
			}
			rev = n
		}
	}()
	return func() {
		close(quit)
		<-finished
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.ttl)
		defer cancel()
		_ = r.kv.Delete(c, key, jetstream.LastRevision(rev)) // else it expires
	}, nil
}

// keep runs l's unit and renews l until the run returns, the lease is lost, or
// stop ends (then it cancels the run and keeps the lease until the run returns).
//
// runCtx is the run's context, made by scan from Run's context without its
// cancellation, and cancel cancels it: keep does when stop ends, while its own KV
// calls outlive stop, so that a stopping run's lease is renewed and released.
func (r *runner) keep(stop, runCtx context.Context, cancel context.CancelCauseFunc, l *Lease) {
	base := context.WithoutCancel(stop)
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
