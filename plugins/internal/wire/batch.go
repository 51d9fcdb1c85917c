package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/util"

	"github.com/etl-toolkit/etl/core"
	pb "github.com/etl-toolkit/etl/plugins/proto"
)

// ChunkSize is the most IPC bytes one BatchChunk carries: a quarter of gRPC's
// default 4 MiB message limit, so that any gRPC implementation accepts every
// message whatever the size of the batch it belongs to.
const ChunkSize = 1 << 20

// MaxBatchBytes bounds the IPC size of one batch a receiver assembles, so a
// peer that never ends a batch cannot take all memory.
const MaxBatchBytes = 1 << 31

// EncodeRecord returns rec as one Arrow IPC stream: its schema, the record
// batch and the end-of-stream marker. The writer's scratch memory comes from the
// Go allocator, not from the record's, and is released before it returns.
func EncodeRecord(rec arrow.RecordBatch) ([]byte, error) {
	return encodeRecord(rec, nil)
}

// encodeRecord is EncodeRecord into buf (nil: a new buffer), which it resets.
func encodeRecord(rec arrow.RecordBatch, buf *bytes.Buffer) ([]byte, error) {
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	buf.Grow(int(util.TotalRecordSize(rec)) + 4096)
	w := ipc.NewWriter(buf, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(memory.DefaultAllocator))
	if err := w.Write(rec); err != nil {
		w.Close()
		return nil, fmt.Errorf("encode record: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	return buf.Bytes(), nil
}

// DecodeRecord reads the one record batch of an IPC stream made by
// EncodeRecord into memory from mem. The caller owns the record.
func DecodeRecord(data []byte, mem memory.Allocator) (arrow.RecordBatch, error) {
	return decodeRecord(bytes.NewReader(data), mem)
}

func decodeRecord(in io.Reader, mem memory.Allocator) (arrow.RecordBatch, error) {
	r, err := ipc.NewReader(in, ipc.WithAllocator(mem))
	if err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	defer r.Release()
	if !r.Next() {
		if err := r.Err(); err != nil {
			return nil, fmt.Errorf("decode record: %w", err)
		}
		return nil, errors.New("decode record: the IPC stream holds no record batch")
	}
	rec := r.RecordBatch()
	rec.Retain()
	if r.Next() {
		rec.Release()
		return nil, errors.New("decode record: the IPC stream holds more than one record batch")
	}
	if err := r.Err(); err != nil {
		rec.Release()
		return nil, fmt.Errorf("decode record: %w", err)
	}
	return rec, nil
}

// SendBatch sends b as chunks through send and returns the number of IPC bytes
// sent. It only reads b.Record: the caller keeps its reference. The chunks'
// data is encoded into buf (nil: a new buffer), which the caller may reuse
// once the last send has returned: gRPC marshals a message before SendMsg
// returns (this code installs no stats handler that would read it later).
func SendBatch(b core.Batch, buf *bytes.Buffer, send func(*pb.BatchChunk) error) (int, error) {
	c := &pb.BatchChunk{
		Stream:      b.Stream,
		Unit:        b.Unit,
		Position:    b.Position,
		HasPosition: b.Position != nil,
		HasRecord:   b.Record != nil,
	}
	if b.Record == nil {
		return 0, send(c)
	}
	data, err := encodeRecord(b.Record, buf)
	if err != nil {
		return 0, err
	}
	for off := 0; ; {
		n := min(ChunkSize, len(data)-off)
		c.Data = data[off : off+n]
		c.More = off+n < len(data)
		if err := send(c); err != nil {
			return off, err
		}
		off += n
		if off == len(data) {
			return len(data), nil
		}
		c = &pb.BatchChunk{}
	}
}

// Assembler puts batches back together from their chunks.
type Assembler struct {
	head  *pb.BatchChunk
	parts [][]byte
	size  int
}

// Add adds the next chunk and reports whether it completed a batch, which
// Batch then returns.
func (a *Assembler) Add(c *pb.BatchChunk) (complete bool, err error) {
	if a.head == nil {
		a.head = c
	}
	a.size += len(c.Data)
	if a.size > MaxBatchBytes {
		a.Reset()
		return false, fmt.Errorf("batch larger than %d bytes", MaxBatchBytes)
	}
	if len(c.Data) > 0 {
		a.parts = append(a.parts, c.Data)
	}
	return !c.More, nil
}

// Pending reports whether chunks of an unfinished batch have come.
func (a *Assembler) Pending() bool { return a.head != nil }

// Batch decodes the batch completed by the last Add, with its record in memory
// from mem (the caller owns it), and makes the Assembler ready for the next one.
func (a *Assembler) Batch(mem memory.Allocator) (core.Batch, error) {
	defer a.Reset()
	h := a.head
	if h == nil {
		return core.Batch{}, errors.New("no batch")
	}
	b := core.Batch{Stream: h.Stream, Unit: h.Unit}
	if h.HasPosition {
		b.Position = core.Position(h.Position)
		if b.Position == nil {
			b.Position = core.Position{}
		}
	}
	if !h.HasRecord {
		return b, nil
	}
	if len(a.parts) == 0 {
		return core.Batch{}, errors.New("decode record: a batch with a record but no data")
	}
	var r io.Reader
	if len(a.parts) == 1 {
		r = bytes.NewReader(a.parts[0])
	} else {
		// The IPC reader copies the bodies into mem anyway: no need to join.
		readers := make([]io.Reader, len(a.parts))
		for i, p := range a.parts {
			readers[i] = bytes.NewReader(p)
		}
		r = io.MultiReader(readers...)
	}
	rec, err := decodeRecord(r, mem)
	if err != nil {
		return core.Batch{}, err
	}
	b.Record = rec
	return b, nil
}

// Reset drops a batch in progress.
func (a *Assembler) Reset() { *a = Assembler{} }
