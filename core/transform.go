package core

import (
	"context"
	"time"
)

// Transform turns batches into batches: converts units, reorders by event time,
// filters. A pipeline applies its transforms in order; one transform instance sees
// the batches of every unit, one at a time (the runner never calls it concurrently).
type Transform interface {
	// Apply takes ownership of in and emits zero or more output batches. A
	// transform that holds rows back (e.g. reorder) gives each output batch a
	// Position only once every input row before that position has been emitted
	// or dead-lettered; otherwise it leaves Position nil, so the runner never
	// saves a position past rows still held. An input whose rows all go (filtered
	// or dead-lettered) should still pass its Position on, in a batch without rows.
	Apply(ctx context.Context, in Batch, emit Emit) error

	// Flush emits every row still held for unit. The runner calls it when the
	// unit's source has ended, and for every unit before the run ends.
	Flush(ctx context.Context, unit string, emit Emit) error

	// Close releases the transform's resources; rows still held are discarded.
	Close() error
}

// Ticker is implemented by transforms that hold rows back by event time and
// can also release them as processing time passes (reorder): on a live stream
// the watermark then moves with the wall clock between messages, so a row is
// released when it is due rather than when the next message of its key comes.
//
// The runner calls LiveUnit for every unit whose source reports it live (see
// LiveSource) before any batch of that unit, and then, if there was one, Tick
// every RunOptions.Tick (default: the pipeline file's tick, else 10ms) until
// the run ends. Both are called on the run goroutine, never concurrently with
// Apply or Flush, and Tick's output goes where Apply's goes, under the same
// Position rules. Units never named by LiveUnit are not affected by ticks, so
// a batch run, or the replay of an archive, gives the same output for the
// same input order. A
// Ticker should take a row's arrival from Arrival(ctx) in Apply rather than
// read the clock, so that time a batch spent queued before Apply (behind a
// burst of other units' messages) counts against its delay.
type Ticker interface {
	// LiveUnit marks unit as live: its rows may be released on processing time.
	LiveUnit(unit string)
	// Tick releases the rows of live units that are due at now (the wall clock).
	Tick(ctx context.Context, now time.Time, emit Emit) error
}

// LiveSource is implemented by sources some of whose units are live streams
// (they read until stopped, and their event time follows the wall clock). The
// runner asks it about every unit of a run to tell Tickers which units are live.
type LiveSource interface {
	Live(unit string) bool
}

type arrivalKey struct{}

// WithArrival returns ctx noting t as the time the batch handled with it was
// emitted by its source. The runner gives Apply such a context for every
// batch a source emits (the emits and ticks it leads to downstream carry it
// too, unchanged).
func WithArrival(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, arrivalKey{}, t)
}

// Arrival returns the time WithArrival noted in ctx, and false if none.
func Arrival(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(arrivalKey{}).(time.Time)
	return t, ok
}
