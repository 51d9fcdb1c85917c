package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/etl-toolkit/etl/cluster/lease"
	"github.com/etl-toolkit/etl/core"
)

// ServeLive runs the units of live pipelines (ASI devices, time frames: units
// that read until they are stopped) under leases instead of the work queue:
// lease.Run on the bucket leases holds each unit on one worker at a time,
// spreads the units over the workers running (Options.Balance, one group per
// pipeline), and moves a dead worker's units to the survivors about a lease TTL
// after it died. Each plan runs one unit at a time, so a worker holds at most as
// many units of a pipeline as it has plans of it.
//
// A held unit runs like a queued one: claimed in the state store and run with a
// store fenced on the claim, so that should a worker keep running a unit after
// its lease moved (a stalled process), its commits are refused. When the lease
// is lost or ctx ends the run stops reading and commits what it read. ServeLive
// returns when ctx ends and every run has committed.
func (w *Worker) ServeLive(ctx context.Context, leases jetstream.KeyValue, plans ...*core.Plan) error {
	if len(plans) == 0 {
		return errors.New("cluster: worker: no live pipelines")
	}
	byName := map[string][]*core.Plan{}
	var names []string
	for _, pl := range plans {
		n := pl.Pipeline.Name
		if byName[n] == nil {
			names = append(names, n)
		}
		byName[n] = append(byName[n], pl)
	}
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.serveLive(ctx, leases, byName[name])
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// serveLive holds and runs the units of one pipeline with its plans.
func (w *Worker) serveLive(ctx context.Context, leases jetstream.KeyValue, plans []*core.Plan) error {
	name := plans[0].Pipeline.Name
	units, err := plans[0].Source.Units(ctx)
	if err != nil && ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cluster: worker: %s: list units: %w", name, err)
	}
	pool := make(chan *core.Plan, len(plans))
	for _, pl := range plans {
		pool <- pl
	}
	log := w.log.With("pipeline", name)
	run := func(ctx context.Context, unit string) error {
		pl := <-pool // Capacity = len(plans): one is always free
		defer func() { pool <- pl }()
		ulog := log.With("unit", unit)
		bg := context.WithoutCancel(ctx)
		store, err := w.claim(bg, name, unit, 1)
		if err != nil {
			return err
		}
		sum, err := pl.Run(ctx, core.RunOptions{Store: store, Units: []string{unit}, Scope: unit})
		ran := Ran{Pipeline: name, Unit: unit, Summary: sum, Err: err, Outcome: "ended"}
		switch {
		case errors.Is(err, core.ErrStale):
			ran.Outcome = "fenced"
			ulog.Warn("cluster: worker: the live unit moved to another worker; this run's commit was refused", "err", err)
		case err != nil:
			ran.Outcome = "failed"
			ulog.Warn("cluster: worker: live unit failed; its lease is released for a retry", "err", err)
		case sum.Interrupted:
			ran.Outcome = "stopped"
		}
		if ran.Outcome != "fenced" {
			if err := store.release(bg); err != nil {
				ulog.Warn("cluster: worker: dropping the unit's claim failed", "err", err)
			}
		}
		if w.opts.OnRun != nil {
			w.opts.OnRun(ran)
		}
		return err
	}
	report := func(e lease.Event) {
		switch e.Kind {
		case lease.Acquired:
			log.Info("cluster: worker: live unit taken", "unit", e.Unit)
		case lease.Lost:
			log.Warn("cluster: worker: live unit's lease lost", "unit", e.Unit, "err", e.Err)
		case lease.Error:
			log.Warn("cluster: worker: lease error", "unit", e.Unit, "err", e.Err)
		}
	}
	err = lease.Run(ctx, leases, w.opts.ID, units, run, lease.Options{Capacity: len(plans), Balance: true, Group: name, Report: report})
	if ctx.Err() != nil {
		return nil // stopped, possibly before it started
	}
	return err
}
