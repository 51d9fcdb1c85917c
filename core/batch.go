package core

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
)

// Position is an opaque cursor a source defines for one unit of work: enough for the
// source to resume reading right after a given row. The runner stores it verbatim in
// the state store and never looks inside. A nil Position means "no progress marker".
type Position []byte

// Batch is a slice of one stream of one unit: an Arrow record batch with the stream's
// schema, plus the position a reader resumes from once every row of this batch (and
// every batch before it of the same unit) is durably committed.
//
// Ownership: whoever holds a Batch holds one reference to Record. A source hands its
// reference to the runner when emit returns nil; a transform takes ownership of its
// input and hands ownership of each output to emit; a sink only borrows the batch
// for the duration of Write (it calls Record.Retain to keep it longer). The runner
// releases every batch after all sinks have written it.
type Batch struct {
	// Stream names the table the rows belong to, e.g. "azumio.checkins.steps".
	// Every batch of one stream within a run has the same schema unless the
	// source deliberately changes it (sinks then start a new file).
	Stream string
	// Unit is the unit of work the rows came from (a user, a time frame, a device).
	Unit string
	// Record holds the rows.
	Record arrow.RecordBatch
	// Position is where the unit resumes after this batch; nil if the batch does
	// not advance the unit (for example rows a transform released early).
	Position Position
}

// Rows returns the number of rows in b, 0 for a batch without a record.
func (b Batch) Rows() int64 {
	if b.Record == nil {
		return 0
	}
	return b.Record.NumRows()
}

// Release drops the holder's reference to the record.
func (b Batch) Release() {
	if b.Record != nil {
		b.Record.Release()
	}
}

// Emit hands a batch downstream. It blocks while downstream is full (back-pressure)
// and returns an error when the run is stopping; the caller must then stop and return
// that error. Ownership of b.Record passes to the callee, even when it returns an error.
type Emit func(ctx context.Context, b Batch) error
