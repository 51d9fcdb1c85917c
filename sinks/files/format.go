package files

import (
	"context"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
)

// Format encodes record batches of one schema into one file. A Sink asks it for a
// new Encoder for every file it opens.
type Format interface {
	// Ext is the file name extension, with its dot: ".csv", ".parquet".
	Ext() string
	// NewEncoder starts a file of the given schema on w. Every record later
	// passed to Encode has exactly this schema.
	NewEncoder(w io.Writer, schema *arrow.Schema) (Encoder, error)
}

// Encoder writes the rows of one file.
//
// An Encoder may buffer (that is what bounds a Sink's memory), but it must not
// keep a record after Encode returns: the Sink releases it. Errors from w (a
// full disk) must be returned, from Encode or at the latest from Close.
type Encoder interface {
	// Encode appends rec's rows to the file.
	Encode(ctx context.Context, rec arrow.RecordBatch) error
	// Close flushes what is buffered and writes the footer, if the format has
	// one. It does not close w.
	Close() error
}
