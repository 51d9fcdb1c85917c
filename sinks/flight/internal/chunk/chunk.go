// Package chunk cuts Arrow record batches into slices that each fit in one
// Flight message, for the flight sink (DoPut) and the flightserve server
// (DoGet). gRPC servers refuse messages above their limit (4 MiB by default),
// so a batch larger than that must be split, never sent whole or rejected.
package chunk

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Limits bound one message.
type Limits struct {
	// Rows is the most rows of one slice (0: no limit).
	Rows int64
	// Bytes is the most bytes of one record batch message: IPC metadata plus
	// body, as it will be sent (0: no limit). Callers leave room for the rest
	// of the Flight message (app metadata, descriptor) themselves.
	Bytes int64
	// Compressed says the body will be compressed (lz4 or zstd): the check then
	// allows for a codec's worst case on incompressible data, which is slightly
	// larger than the input.
	Compressed bool
	// Mem allocates the small copies the size check makes (offsets of sliced
	// strings and lists); nil: memory.DefaultAllocator.
	Mem memory.Allocator
}

// slack covers what the metadata of a compressed message adds over an
// uncompressed one (the BodyCompression table), and rounding.
const slack = 256

// Split returns rec cut into consecutive slices that each fit lim, in order;
// the caller releases every one. A batch that fits comes back as itself, with
// one more reference. Split fails only when a single row does not fit
// lim.Bytes, which no split can help.
//
// The size of a slice is measured exactly, by building its IPC payload
// without compression (ipc.GetRecordBatchPayload, which references the
// record's buffers rather than copying them); a slice that is too large is cut
// into as many equal runs of rows as its size asks for, and those are checked
// again, so rows of very different sizes still end up in messages that fit.
func Split(rec arrow.RecordBatch, lim Limits) ([]arrow.RecordBatch, error) {
	if lim.Mem == nil {
		lim.Mem = memory.DefaultAllocator
	}
	var out []arrow.RecordBatch
	n := rec.NumRows()
	if lim.Rows <= 0 || n <= lim.Rows {
		rec.Retain()
		return splitBytes(rec, lim, out)
	}
	for lo := int64(0); lo < n; lo += lim.Rows {
		var err error
		out, err = splitBytes(rec.NewSlice(lo, min(lo+lim.Rows, n)), lim, out)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// splitBytes appends rec, or slices of it, to out; it takes ownership of rec.
// On error it releases rec and everything in out.
func splitBytes(rec arrow.RecordBatch, lim Limits, out []arrow.RecordBatch) ([]arrow.RecordBatch, error) {
	if lim.Bytes <= 0 {
		return append(out, rec), nil
	}
	size, err := MessageSize(rec, lim.Compressed, lim.Mem)
	if err != nil {
		rec.Release()
		release(out)
		return nil, err
	}
	if size <= lim.Bytes {
		return append(out, rec), nil
	}
	n := rec.NumRows()
	if n <= 1 {
		rec.Release()
		release(out)
		return nil, fmt.Errorf("chunk: one row takes %d bytes, more than the message limit of %d bytes", size, lim.Bytes)
	}
	defer rec.Release()
	parts := max(2, min(n, (size+lim.Bytes-1)/lim.Bytes))
	for i := range parts {
		lo, hi := n*i/parts, n*(i+1)/parts
		if lo == hi {
			continue
		}
		if out, err = splitBytes(rec.NewSlice(lo, hi), lim, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func release(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// MessageSize returns the bytes of rec's IPC record batch message without
// compression: the metadata flatbuffer and the padded body. When compressed is
// true it adds what lz4 or zstd may add to incompressible buffers (their
// documented worst case, n/128 + 64 bytes per buffer, plus the 8-byte length
// prefix Arrow writes), so that the result bounds the compressed message too.
// Dictionaries travel in messages of their own and are not counted.
func MessageSize(rec arrow.RecordBatch, compressed bool, mem memory.Allocator) (int64, error) {
	p, err := ipc.GetRecordBatchPayload(rec, ipc.WithAllocator(mem))
	if err != nil {
		return 0, fmt.Errorf("chunk: measure record batch: %w", err)
	}
	defer p.Release()
	var body counter
	if err := p.SerializeBody(&body); err != nil {
		return 0, fmt.Errorf("chunk: measure record batch: %w", err)
	}
	size := body.n
	if meta := p.Meta(); meta != nil {
		size += int64(meta.Len())
		meta.Release()
	}
	if compressed {
		size += body.n/128 + 72*int64(countBuffers(rec)) + slack
	}
	return size, nil
}

// counter is an io.Writer that only counts.
type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

func countBuffers(rec arrow.RecordBatch) int {
	n := 0
	for _, c := range rec.Columns() {
		n += dataBuffers(c.Data())
	}
	return n
}

func dataBuffers(d arrow.ArrayData) int {
	n := len(d.Buffers())
	for _, c := range d.Children() {
		n += dataBuffers(c)
	}
	return n
}
