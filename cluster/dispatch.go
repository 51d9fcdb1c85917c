package cluster

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// claimKey is the state key a worker claims while it runs a unit (see Worker).
func claimKey(pipeline, unit string) string { return pipeline + "/claim/" + unit }

// Dispatcher queues units for workers: `etl serve --cluster` uses one instead of
// running pulls itself. A unit already queued is not queued again (its queued
// run covers the new call). A unit that is running is deferred: the Dispatcher
// queues it once more when its run ends (Run retries), so a change that arrives
// during a run is exported by the next one, and a burst of calls for one unit
// leads to at most one queued run.
type Dispatcher struct {
	q     *Queue
	store *KVStore
	log   *slog.Logger
	// RetryEvery is how often Run retries deferred units (default 1 s).
	RetryEvery time.Duration

	mu       sync.Mutex
	deferred map[deferredUnit]time.Time
}

type deferredUnit struct{ pipeline, unit string }

// NewDispatcher returns a Dispatcher queueing on q and reading the units'
// claims in store.
func NewDispatcher(q *Queue, store *KVStore, log *slog.Logger) *Dispatcher {
	if log == nil {
		log = slog.Default()
	}
	return &Dispatcher{q: q, store: store, log: log, RetryEvery: time.Second, deferred: map[deferredUnit]time.Time{}}
}

// Dispatch queues units of pipeline (asked at the given time) and says what
// became of them. It stops at the first error (the server unreachable).
func (d *Dispatcher) Dispatch(ctx context.Context, pipeline string, units []string, asked time.Time) (Queued, error) {
	var res Queued
	for _, u := range units {
		r, err := d.one(ctx, pipeline, u, asked)
		if err != nil {
			return res, err
		}
		switch r {
		case resQueued:
			res.Queued++
		case resCoalesced:
			res.Coalesced++
		case resDeferred:
			res.Deferred++
		}
	}
	return res, nil
}

type result int

const (
	resQueued result = iota
	resCoalesced
	resDeferred
)

// one queues one unit. Refused (the subject holds a message), it looks at the
// unit's claim: claimed, the unit is running and is deferred; not claimed, the
// message is waiting, or its run just ended (a worker acknowledges before it
// drops the claim), so one more publish tells the two apart.
func (d *Dispatcher) one(ctx context.Context, pipeline, unit string, asked time.Time) (result, error) {
	for try := 0; ; try++ {
		full, err := d.q.publish(ctx, pipeline, unit, asked)
		if err != nil {
			return 0, err
		}
		if !full {
			d.forget(pipeline, unit)
			return resQueued, nil
		}
		claim, _, err := d.store.Get(ctx, claimKey(pipeline, unit))
		if err != nil {
			return 0, err
		}
		if claim != nil {
			d.mu.Lock()
			key := deferredUnit{pipeline, unit}
			if _, ok := d.deferred[key]; !ok {
				d.deferred[key] = asked
			}
			d.mu.Unlock()
			return resDeferred, nil
		}
		if try == 1 {
			d.forget(pipeline, unit)
			return resCoalesced, nil
		}
	}
}

func (d *Dispatcher) forget(pipeline, unit string) {
	d.mu.Lock()
	delete(d.deferred, deferredUnit{pipeline, unit})
	d.mu.Unlock()
}

// Deferred returns how many units wait for their run to end to be queued again.
func (d *Dispatcher) Deferred() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.deferred)
}

// Run retries the deferred units every RetryEvery until ctx ends. Deferred units
// live in this process only: if it stops, the next trigger or schedule of those
// units queues them (their cursors cover what they missed).
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTicker(d.RetryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.mu.Lock()
		todo := make(map[deferredUnit]time.Time, len(d.deferred))
		for k, v := range d.deferred {
			todo[k] = v
		}
		d.mu.Unlock()
		for k, asked := range todo {
			if _, err := d.one(ctx, k.pipeline, k.unit, asked); err != nil {
				if ctx.Err() == nil {
					d.log.Warn("cluster: queueing a deferred unit failed; retrying", "pipeline", k.pipeline, "unit", k.unit, "err", err)
				}
				break
			}
		}
	}
}
