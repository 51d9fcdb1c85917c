package wire

import (
	"bytes"
	"errors"
	"fmt"

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
	var buf bytes.Buffer
	buf.Grow(int(util.TotalRecordSize(rec)) + 4096)
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(memory.DefaultAllocator))
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
	r, err := ipc.NewReader(bytes.NewReader(data), ipc.WithAllocator(mem))
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
// sent. It only reads b.Record: the caller keeps its reference.
func SendBatch(b core.Batch, send func(*pb.BatchChunk) error) (int, error) {
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
	data, err := EncodeRecord(b.Record)
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
	data := a.parts[0]
	if len(a.parts) > 1 {
		data = bytes.Join(a.parts, nil)
	}
	rec, err := DecodeRecord(data, mem)
	if err != nil {
		return core.Batch{}, err
	}
	b.Record = rec
	return b, nil
}

// Reset drops a batch in progress.
func (a *Assembler) Reset() { *a = Assembler{} }
