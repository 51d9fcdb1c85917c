package core

import "context"

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
