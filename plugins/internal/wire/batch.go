package wire

import (
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/mem"

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

// writeRecord writes rec to w as one Arrow IPC stream: its schema, the record
// batch and the end-of-stream marker. The writer's scratch memory comes from
// the Go allocator, not from the record's, and is released before it returns.
func writeRecord(rec arrow.RecordBatch, w io.Writer) error {
	iw := ipc.NewWriter(w, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(memory.DefaultAllocator))
	if err := iw.Write(rec); err != nil {
		iw.Close()
		return fmt.Errorf("encode record: %w", err)
	}
	if err := iw.Close(); err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	return nil
}

// decodeRecord reads the one record batch of an IPC stream made by
// writeRecord into memory from mem. The caller owns the record.
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

// Encoded is a batch cut into chunks, ready to send. The chunks' data is in
// buffers of a pool, which return to it once sent (gRPC holds them until it
// has written them) or freed.
type Encoded struct {
	Chunks []*Chunk
	// Size is the number of IPC bytes.
	Size int
}

// EncodeBatch encodes b as chunks of at most ChunkSize bytes. It only reads
// b.Record: the caller keeps its reference.
func EncodeBatch(b core.Batch) (Encoded, error) {
	head := &pb.BatchChunk{
		Stream:      b.Stream,
		Unit:        b.Unit,
		Position:    b.Position,
		HasPosition: b.Position != nil,
		HasRecord:   b.Record != nil,
	}
	if b.Record == nil {
		return Encoded{Chunks: []*Chunk{{Head: head}}}, nil
	}
	var w chunkWriter
	if err := writeRecord(b.Record, &w); err != nil {
		w.free()
		return Encoded{}, err
	}
	e := Encoded{Chunks: make([]*Chunk, len(w.bufs))}
	for i, buf := range w.bufs {
		if i > 0 {
			head = &pb.BatchChunk{}
		}
		head.More = i < len(w.bufs)-1
		e.Size += len(*buf)
		e.Chunks[i] = &Chunk{Head: head, Data: mem.BufferSlice{mem.NewBuffer(buf, chunkPool)}}
	}
	return e, nil
}

// Send sends the chunks in order through send, then frees them; after a
// failed send it frees the rest without sending them.
func (e *Encoded) Send(send func(*Chunk) error) error {
	defer e.Free()
	for _, c := range e.Chunks {
		if err := send(c); err != nil {
			return err
		}
	}
	return nil
}

// Free frees the chunks' data.
func (e *Encoded) Free() {
	for _, c := range e.Chunks {
		c.Free()
	}
	e.Chunks = nil
}

// SendBatch encodes b (EncodeBatch) and sends its chunks through send. It
// returns the number of IPC bytes.
func SendBatch(b core.Batch, send func(*Chunk) error) (int, error) {
	e, err := EncodeBatch(b)
	if err != nil {
		return 0, err
	}
	return e.Size, e.Send(send)
}

// chunkWriter is the io.Writer that EncodeBatch's IPC writer writes to: it
// fills buffers of ChunkSize bytes from chunkPool, which become the chunks'
// data as they are, so that the IPC stream is copied once, into them.
type chunkWriter struct {
	bufs []*[]byte
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(w.bufs) == 0 || len(*w.bufs[len(w.bufs)-1]) == ChunkSize {
			w.bufs = append(w.bufs, chunkPool.Get(0))
		}
		last := w.bufs[len(w.bufs)-1]
		k := min(len(p), ChunkSize-len(*last))
		*last = append(*last, p[:k]...)
		p = p[k:]
	}
	return n, nil
}

func (w *chunkWriter) free() {
	for _, b := range w.bufs {
		chunkPool.Put(b)
	}
	w.bufs = nil
}

// Assembler puts batches back together from their chunks.
type Assembler struct {
	head  *pb.BatchChunk
	parts mem.BufferSlice
}

// Add adds the next chunk, taking over its data, and reports whether it
// completed a batch, which Batch then returns.
func (a *Assembler) Add(c *Chunk) (complete bool, err error) {
	if a.head == nil {
		a.head = c.Head
	}
	a.parts = append(a.parts, c.Data...)
	c.Data = nil
	if a.parts.Len() > MaxBatchBytes {
		a.Reset()
		return false, fmt.Errorf("batch larger than %d bytes", MaxBatchBytes)
	}
	return !c.Head.More, nil
}

// Pending reports whether chunks of an unfinished batch have come.
func (a *Assembler) Pending() bool { return a.head != nil }

// Batch decodes the batch completed by the last Add, with its record in memory
// from mem (the caller owns it), and makes the Assembler ready for the next one.
// The chunks' data is copied once, by the IPC reader, into mem.
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
	if a.parts.Len() == 0 {
		return core.Batch{}, errors.New("decode record: a batch with a record but no data")
	}
	r := a.parts.Reader()
	defer r.Close()
	rec, err := decodeRecord(r, mem)
	if err != nil {
		return core.Batch{}, err
	}
	b.Record = rec
	return b, nil
}

// Reset drops a batch in progress.
func (a *Assembler) Reset() {
	a.parts.Free()
	*a = Assembler{}
}
