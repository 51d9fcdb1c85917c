package core

import "context"

// Source reads one API (or generator) and emits batches. Its work is split into
// units — one Azumio user, one ASI time frame or device — each with its own
// position, so units run concurrently and resume independently.
//
// A Source is built by its Factory from a decoded config and does no I/O until
// Units is called. The runner calls Units once, then Read for each unit (several
// units concurrently, up to the pipeline's concurrency), Ack as commits land, and
// Close once at the end. All methods must be safe for concurrent use.
type Source interface {
	// Units lists the units of work for this run, each a stable id under which the
	// runner stores the unit's position (e.g. "user/123", "timeframe/42").
	Units(ctx context.Context) ([]string, error)

	// Read emits the unit's rows that come after from (nil: from the beginning)
	// and returns nil at the end of the unit's data. A live unit has no end: it
	// reads until ctx is cancelled and then returns an error wrapping ctx.Err().
	//
	// A batch may have no rows (a nil or empty Record) and only a Position, to
	// record progress past data that produced no rows.
	//
	// Every emitted batch carries the position that resumes right after it, so a
	// later Read from that position must emit exactly the rows that follow — this
	// is what gives exactly-once output across crashes. emit must be called from
	// one goroutine at a time for a given Read. It blocks while the
	// pipeline is full; when it returns an error, Read must return promptly
	// (wrapping or returning that error). Once the run is stopping (ctx
	// cancelled), emit still takes the batch — it is written and committed
	// with the rest — and returns ctx's error: a live source may go on emitting
	// what it had already received (draining its connection) before it
	// returns. Errors wrapping ErrTransient (see
	// ErrBackoff) make the runner retry the unit from its last emitted position;
	// other errors fail the unit and the run goes on with the other units.
	Read(ctx context.Context, unit string, from Position, emit Emit) error

	// Ack tells the source that every row of unit up to pos is durably committed
	// by all sinks and pos is saved in the state store. The source may now forget
	// those rows (drop archived pages, acknowledge a queue). Acks for one unit
	// come in order; Ack may be called while other units are being read.
	Ack(ctx context.Context, unit string, pos Position) error

	// Close releases the source's resources. It is called once, after every Read
	// has returned.
	Close() error
}
