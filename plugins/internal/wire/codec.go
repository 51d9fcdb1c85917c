package wire

import (
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/etl-toolkit/etl/plugins/proto"
)

// Codec is the gRPC codec of both ends of the protocol. It speaks protobuf,
// byte for byte: every message but Chunk goes through gRPC's own protobuf
// codec, and a Chunk is the BatchChunk message written and read by hand so
// that its data, the bulk of what the protocol carries, is never copied by
// the codec. Sending, the data's buffers are handed to gRPC as they are (gRPC
// holds a reference until it has written them); receiving, Data is a view of
// the buffers gRPC read the message into. gRPC's protobuf codec would copy
// the data twice on each side (into one contiguous message and out of it),
// which measured as a fifth of a plugin's CPU time for a sink that does
// nothing (BenchmarkSink/external:builtin:discard).
//
// The codec's name is "proto", so peers built without it (another language,
// an older SDK) see the usual protobuf content type and messages.
type Codec struct{}

var _ encoding.CodecV2 = Codec{}

// protoCodec is gRPC's protobuf codec, for every message but Chunk.
var protoCodec = encoding.GetCodecV2(grpcproto.Name)

// Name implements encoding.CodecV2.
func (Codec) Name() string { return grpcproto.Name }

// CallOption makes a client call use Codec.
func CallOption() grpc.CallOption { return grpc.ForceCodecV2(Codec{}) }

// ServerOption makes a server use Codec.
func ServerOption() grpc.ServerOption { return grpc.ForceServerCodecV2(Codec{}) }

// Chunk is a BatchChunk whose data is gRPC memory rather than a []byte: what
// the streams of batches send and receive through Codec.
type Chunk struct {
	// Head holds every field of the message but data (Head.Data is ignored);
	// never nil in a received Chunk.
	Head *pb.BatchChunk
	// Data is the chunk's part of the batch's Arrow IPC stream. The Chunk
	// owns one reference to it, which Free releases.
	Data mem.BufferSlice
}

// Free releases the Chunk's data.
func (c *Chunk) Free() {
	c.Data.Free()
	c.Data = nil
}

// Marshal implements encoding.CodecV2.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	c, ok := v.(*Chunk)
	if !ok {
		return protoCodec.Marshal(v)
	}
	h := c.Head
	if h == nil {
		h = &pb.BatchChunk{}
	}
	head := pb.BatchChunk{Stream: h.Stream, Unit: h.Unit, Position: h.Position, HasPosition: h.HasPosition,
		HasRecord: h.HasRecord, More: h.More, Status: h.Status}
	b, err := proto.Marshal(&head)
	if err != nil {
		return nil, fmt.Errorf("wire: marshal batch chunk: %w", err)
	}
	n := c.Data.Len()
	if n == 0 {
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	// Fields may come in any order: data, field 6, goes last, after the
	// others, so that it is only referenced.
	b = protowire.AppendTag(b, dataField, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	out := make(mem.BufferSlice, 0, 1+len(c.Data))
	out = append(out, mem.SliceBuffer(b))
	for _, d := range c.Data {
		d.Ref() // gRPC frees out once it has written it
		out = append(out, d)
	}
	return out, nil
}

// The field numbers of BatchChunk (plugin.proto).
const (
	streamField      = 1
	unitField        = 2
	positionField    = 3
	hasPositionField = 4
	hasRecordField   = 5
	dataField        = 6
	moreField        = 7
	statusField      = 8
)

// Unmarshal implements encoding.CodecV2. Into a Chunk, it parses the message
// as protobuf does (fields in any order, the last of a repeated scalar wins,
// unknown fields skipped, strings checked to be UTF-8), with Data a view of
// data that holds its own references.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	c, ok := v.(*Chunk)
	if !ok {
		return protoCodec.Unmarshal(data, v)
	}
	if err := c.unmarshal(data); err != nil {
		c.Free()
		return fmt.Errorf("wire: unmarshal batch chunk: %w", err)
	}
	return nil
}

func (c *Chunk) unmarshal(data mem.BufferSlice) error {
	c.Head = &pb.BatchChunk{}
	c.Data.Free()
	c.Data = nil
	r := cursor{bufs: data}
	for !r.done() {
		num, typ, err := r.tag()
		if err != nil {
			return err
		}
		switch {
		case num == dataField && typ == protowire.BytesType:
			n, err := r.length()
			if err != nil {
				return err
			}
			c.Data.Free()
			c.Data = r.slice(n)
		case (num == streamField || num == unitField || num == positionField || num == statusField) && typ == protowire.BytesType:
			n, err := r.length()
			if err != nil {
				return err
			}
			b := r.bytes(n)
			switch num {
			case positionField:
				c.Head.Position = b
			default:
				if !utf8.Valid(b) {
					return fmt.Errorf("field %d: invalid UTF-8", num)
				}
				switch v := string(b); num {
				case streamField:
					c.Head.Stream = v
				case unitField:
					c.Head.Unit = v
				case statusField:
					c.Head.Status = &v
				}
			}
		case (num == hasPositionField || num == hasRecordField || num == moreField) && typ == protowire.VarintType:
			x, err := r.varint()
			if err != nil {
				return err
			}
			switch num {
			case hasPositionField:
				c.Head.HasPosition = x != 0
			case hasRecordField:
				c.Head.HasRecord = x != 0
			case moreField:
				c.Head.More = x != 0
			}
		default:
			if err := r.skip(num, typ); err != nil {
				return err
			}
		}
	}
	return nil
}

// cursor reads a protobuf message that lies in several buffers.
type cursor struct {
	bufs mem.BufferSlice
	i    int // the buffer being read
	off  int // the offset in it
}

var errTruncated = errors.New("the message ends inside a field")

func (r *cursor) done() bool {
	for r.i < len(r.bufs) && r.off == r.bufs[r.i].Len() {
		r.i, r.off = r.i+1, 0
	}
	return r.i == len(r.bufs)
}

func (r *cursor) byte() (byte, error) {
	if r.done() {
		return 0, errTruncated
	}
	b := r.bufs[r.i].ReadOnlyData()[r.off]
	r.off++
	return b, nil
}

func (r *cursor) varint() (uint64, error) {
	var x uint64
	for shift := uint(0); shift < 64; shift += 7 {
		b, err := r.byte()
		if err != nil {
			return 0, err
		}
		x |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return x, nil
		}
	}
	return 0, errors.New("a varint longer than 10 bytes")
}

func (r *cursor) tag() (protowire.Number, protowire.Type, error) {
	x, err := r.varint()
	if err != nil {
		return 0, 0, err
	}
	num, typ := protowire.DecodeTag(x)
	if num < protowire.MinValidNumber || num > protowire.MaxValidNumber {
		return 0, 0, fmt.Errorf("invalid field number %d", num)
	}
	return num, typ, nil
}

// length reads a length prefix and checks that so many bytes follow.
func (r *cursor) length() (int, error) {
	x, err := r.varint()
	if err != nil {
		return 0, err
	}
	if x > uint64(r.rest()) {
		return 0, errTruncated
	}
	return int(x), nil
}

// rest is the number of bytes not read yet.
func (r *cursor) rest() int {
	n := -r.off
	for _, b := range r.bufs[r.i:] {
		n += b.Len()
	}
	return n
}

// next passes over the next n bytes (which must be there), calling f with
// each buffer that holds some of them and their range in it.
func (r *cursor) next(n int, f func(b mem.Buffer, from, to int)) {
	for n > 0 {
		r.done() // moves past the end of a buffer
		b := r.bufs[r.i]
		k := min(n, b.Len()-r.off)
		f(b, r.off, r.off+k)
		r.off += k
		n -= k
	}
}

// slice returns the next n bytes as views that hold their own references.
func (r *cursor) slice(n int) mem.BufferSlice {
	var out mem.BufferSlice
	r.next(n, func(b mem.Buffer, from, to int) { out = append(out, b.Slice(from, to)) })
	return out
}

// bytes returns a copy of the next n bytes.
func (r *cursor) bytes(n int) []byte {
	out := make([]byte, 0, n)
	r.next(n, func(b mem.Buffer, from, to int) { out = append(out, b.ReadOnlyData()[from:to]...) })
	return out
}

// skip passes over a field this code does not know, as protobuf parsers do.
func (r *cursor) skip(num protowire.Number, typ protowire.Type) error {
	var n int
	switch typ {
	case protowire.VarintType:
		_, err := r.varint()
		return err
	case protowire.Fixed32Type:
		n = 4
	case protowire.Fixed64Type:
		n = 8
	case protowire.BytesType:
		var err error
		if n, err = r.length(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("field %d: unsupported wire type %d", num, typ)
	}
	if n > r.rest() {
		return errTruncated
	}
	r.next(n, func(mem.Buffer, int, int) {})
	return nil
}

// chunkPool holds the buffers that batches are encoded into, ChunkSize bytes
// each. They are not cleared between uses: only the bytes written are ever
// sent.
var chunkPool = &bufferPool{size: ChunkSize}

// framePool is the buffer pool of both ends' gRPC transports, which read each
// HTTP/2 data frame (16 KiB at most) into a buffer of it. gRPC's default pool
// clears every buffer it hands out; a frame's buffer is filled by the frame
// before anything reads it, so this one does not, which measured as 6% of a
// plugin's CPU time receiving batches (BenchmarkSink/external:builtin:discard,
// 0.064 to 0.060 s per M rows).
var framePool = &bufferPool{size: 16 << 10}

// bufferPool is a mem.BufferPool that keeps buffers of one size; larger ones
// are allocated each time.
type bufferPool struct {
	size int
	pool sync.Pool
}

// Get implements mem.BufferPool.
func (p *bufferPool) Get(length int) *[]byte {
	if length > p.size {
		b := make([]byte, length)
		return &b
	}
	if b, ok := p.pool.Get().(*[]byte); ok {
		*b = (*b)[:length]
		return b
	}
	b := make([]byte, length, p.size)
	return &b
}

// Put implements mem.BufferPool.
func (p *bufferPool) Put(b *[]byte) {
	if cap(*b) != p.size {
		return
	}
	*b = (*b)[:0]
	p.pool.Put(b)
}
