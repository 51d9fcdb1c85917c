package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/etl-toolkit/etl/core"
)

// WorkerOptions tune a Worker. The zero value is valid.
type WorkerOptions struct {
	// ID names the worker in claims and logs (default host-pid).
	ID string
	// Logger logs every unit's outcome (default slog.Default()).
	Logger *slog.Logger
	// FetchWait is how long one pull waits for a unit; it is also the longest
	// a stop waits for an idle slot (default 2 s).
	FetchWait time.Duration
	// Heartbeat is how often a running unit's message is marked in progress
	// (default the queue's AckWait/3). Longer than AckWait, it lets JetStream
	// give a unit that is still running to another worker: tests use that to
	// stand for a stalled worker.
	Heartbeat time.Duration
	// RetryDelays are the delays before a failed unit runs again, by try
	// (default 1 m, 2 m, 5 m, 10 m; the last repeats).
	RetryDelays []time.Duration
	// OnRun, if set, is called after every unit run.
	OnRun func(Ran)
}

// Ran is the outcome of one unit run by a worker.
type Ran struct {
	Pipeline, Unit string
	Summary        *core.Summary
	Err            error
	// Outcome is, for a queued unit, what the worker told the queue: "acked"
	// (committed), "requeued" (stopped before the end: redelivered at once),
	// "retry" (failed: redelivered after a back-off), "terminated" (failed
	// MaxTries times); for a live unit (ServeLive) "stopped" (lease lost or
	// worker stopping: what was read is committed), "ended" (the unit ended by
	// itself) or "failed"; for both, "fenced": its commit was refused because
	// the unit had moved to another worker.
	Outcome string
}

// Worker runs units from the queue, one at a time per plan.
//
// For each unit it takes from a pipeline's consumer it claims the unit in the
// state store (Claim on "<pipeline>/claim/<unit>"), runs it with
// RunOptions{Units: [unit], Scope: unit} and a store fenced on that claim
// (Fenced), heartbeats the message (InProgress every AckWait/3) while it runs,
// and acknowledges it (double ack: the server confirms) after the commit;
// then it drops the claim. A worker that dies stops heartbeating, JetStream
// redelivers the unit after the ack wait, the next worker claims it and first
// finishes whatever commit the dead one recorded (the runner's recovery of its
// scope). Should the first worker still be alive (a network partition, a
// stall), its next commit fails with core.ErrStale before any of its files
// becomes visible, and it leaves the message alone.
type Worker struct {
	q     *Queue
	store *KVStore
	opts  WorkerOptions
	log   *slog.Logger
}

// NewWorker returns a worker taking units from q, with state in store.
func NewWorker(q *Queue, store *KVStore, opts WorkerOptions) *Worker {
	if opts.ID == "" {
		host, _ := os.Hostname()
		opts.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.FetchWait <= 0 {
		opts.FetchWait = 2 * time.Second
	}
	if len(opts.RetryDelays) == 0 {
		opts.RetryDelays = redeliveryBackOff
	}
	return &Worker{q: q, store: store, opts: opts, log: opts.Logger.With("worker", opts.ID)}
}

// Serve runs units with plans until ctx ends. Each plan runs one unit at a time;
// give several plans of one pipeline (built separately: a plan's sinks belong
// to one run) to run several of its units at once. When ctx ends, an idle slot
// stops within FetchWait and a running unit stops reading, commits what it read
// and is requeued for another worker to finish. Serve returns when every slot
// has stopped; the plans stay open (the caller closes them).
func (w *Worker) Serve(ctx context.Context, plans ...*core.Plan) error {
	if len(plans) == 0 {
		return errors.New("cluster: worker: no pipelines")
	}
	consumers := map[string]jetstream.Consumer{}
	for _, pl := range plans {
		name := pl.Pipeline.Name
		if _, ok := consumers[name]; ok {
			continue
		}
		c, err := w.q.consumer(ctx, name)
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped before it started
			}
			return err
		}
		consumers[name] = c
	}
	var wg sync.WaitGroup
	for _, pl := range plans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.slot(ctx, consumers[pl.Pipeline.Name], pl)
		}()
	}
	wg.Wait()
	return nil
}

// slot takes units one at a time for plan until ctx ends.
func (w *Worker) slot(ctx context.Context, c jetstream.Consumer, plan *core.Plan) {
	for ctx.Err() == nil {
		msg, err := c.Next(jetstream.FetchMaxWait(w.opts.FetchWait))
		if errors.Is(err, nats.ErrTimeout) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.log.Warn("cluster: worker: pulling a unit failed; retrying", "pipeline", plan.Pipeline.Name, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		w.handle(ctx, plan, msg)
	}
}

// claim is the value of a unit's claim key.
type claim struct {
	Worker    string    `json:"worker"`
	Delivered uint64    `json:"delivered"`
	Since     time.Time `json:"since"`
}

// claim claims unit in the state store and returns the store its run must use:
// fenced on the claim, listing only the unit's own state.
func (w *Worker) claim(ctx context.Context, pipeline, unit string, delivered uint64) (*fencedStore, error) {
	key := claimKey(pipeline, unit)
	val, _ := json.Marshal(claim{Worker: w.opts.ID, Delivered: delivered, Since: time.Now().UTC()})
	rev, err := w.store.Claim(ctx, key, val)
	if err != nil {
		return nil, err
	}
	return &fencedStore{s: w.store, f: fence{key: key, rev: rev}, only: []string{unitStateKey(pipeline, unit)}}, nil
}

// handle runs one delivered unit and answers the queue.
func (w *Worker) handle(ctx context.Context, plan *core.Plan, msg jetstream.Msg) {
	var m unitMsg
	if err := json.Unmarshal(msg.Data(), &m); err != nil || m.Pipeline != plan.Pipeline.Name {
		w.log.Error("cluster: worker: dropping a malformed queue message", "subject", msg.Subject(), "err", err)
		msg.Term()
		return
	}
	if ctx.Err() != nil {
		msg.Nak() // taken just as we stop: another worker runs it now
		return
	}
	log := w.log.With("pipeline", m.Pipeline, "unit", m.Unit)
	var delivered uint64 = 1
	if meta, err := msg.Metadata(); err == nil {
		delivered = meta.NumDelivered
	}
	bg := context.WithoutCancel(ctx)
	store, err := w.claim(bg, m.Pipeline, m.Unit, delivered)
	if err != nil {
		log.Warn("cluster: worker: could not claim the unit; requeued", "err", err)
		msg.NakWithDelay(time.Second)
		return
	}

	stop := w.heartbeat(msg)
	sum, err := plan.Run(ctx, core.RunOptions{Store: store, Units: []string{m.Unit}, Scope: m.Unit})
	stop()

	ran := Ran{Pipeline: m.Pipeline, Unit: m.Unit, Summary: sum, Err: err}
	switch {
	case errors.Is(err, core.ErrStale):
		// Fenced: the unit was redelivered and claimed by another worker,
		// which owns the message and the claim now.
		ran.Outcome = "fenced"
		log.Warn("cluster: worker: the unit was given to another worker meanwhile; this run's commit was refused", "err", err)
	case err == nil && sum.Interrupted:
		ran.Outcome = "requeued"
		msg.Nak()
	case err == nil:
		ran.Outcome = "acked"
		if aerr := msg.DoubleAck(bg); aerr != nil {
			// Committed, but the queue did not hear it: the unit runs once
			// more from its new position, which exports nothing twice.
			log.Warn("cluster: worker: acknowledging the unit failed", "err", aerr)
		}
	case delivered >= MaxTries:
		ran.Outcome = "terminated"
		log.Error("cluster: worker: the unit failed too often; dropped from the queue until its next trigger", "tries", delivered, "err", err)
		msg.Term()
	default:
		ran.Outcome = "retry"
		delay := w.opts.RetryDelays[min(int(delivered)-1, len(w.opts.RetryDelays)-1)]
		log.Warn("cluster: worker: the unit failed; retrying later", "in", delay, "try", delivered, "err", err)
		msg.NakWithDelay(delay)
	}
	if ran.Outcome != "fenced" {
		if err := store.release(bg); err != nil {
			// A claim left behind only makes a later webhook for the unit
			// wait for the next run instead of coalescing; the next claim
			// replaces it.
			log.Warn("cluster: worker: dropping the unit's claim failed", "err", err)
		}
	}
	if ran.Outcome == "acked" {
		log.Info("cluster: worker: unit done", "rows", sum.Rows(), "duration", sum.Duration)
	}
	if w.opts.OnRun != nil {
		w.opts.OnRun(ran)
	}
}

// heartbeat tells JetStream every AckWait/3 that msg is still being worked on;
// the returned func stops it.
func (w *Worker) heartbeat(msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		every := w.opts.Heartbeat
		if every <= 0 {
			every = w.q.opts.AckWait / 3
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := msg.InProgress(); err != nil {
					w.log.Warn("cluster: worker: heartbeat failed", "subject", msg.Subject(), "err", err)
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// unitStateKey is the runner's state key of a unit (core's "<pipeline>/unit/<unit>").
func unitStateKey(pipeline, unit string) string { return pipeline + "/unit/" + unit }

// listOnly answers List from the given keys only (the keys of a fenced store's
// one unit): the runner lists the unit prefix of its pipeline at the start of
// every run, and one unit's run reads only its own unit's entry, so a worker
// need not read every unit of the pipeline for each unit it runs (quadratic over
// a full dispatch).
func (v *fencedStore) listOnly(ctx context.Context, prefix string) ([]core.Entry, error) {
	var out []core.Entry
	for _, k := range v.only {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		val, rev, err := v.s.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		if val != nil {
			out = append(out, core.Entry{Key: k, Value: val, Rev: rev})
		}
	}
	return out, nil
}

// release deletes the fence's key if it still holds it (nil if somebody else
// holds it now).
func (v *fencedStore) release(ctx context.Context) error {
	if _, err := v.s.Update(ctx, core.Write{Key: v.f.key, Rev: v.f.rev}); err != nil && !errors.Is(err, core.ErrStale) {
		return err
	}
	return nil
}
