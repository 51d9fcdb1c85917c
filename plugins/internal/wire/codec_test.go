package wire

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/etl-toolkit/etl/plugins/proto"
)

// countingPool is a mem.BufferPool that counts the buffers it has given out
// and not got back.
type countingPool struct{ out atomic.Int64 }

func (p *countingPool) Get(n int) *[]byte {
	p.out.Add(1)
	b := make([]byte, n)
	return &b
}

func (p *countingPool) Put(*[]byte) { p.out.Add(-1) }

func (p *countingPool) held() int64 { return p.out.Load() }

// frames cuts msg into buffers of at most size bytes, as gRPC's transport
// receives a message in HTTP/2 data frames: from pool unless small.
func frames(msg []byte, size int, pool mem.BufferPool) mem.BufferSlice {
	var out mem.BufferSlice
	for len(msg) > 0 {
		n := min(size, len(msg))
		if mem.IsBelowBufferPoolingThreshold(n) {
			out = append(out, mem.SliceBuffer(bytes.Clone(msg[:n])))
		} else {
			b := pool.Get(n)
			copy(*b, msg[:n])
			out = append(out, mem.NewBuffer(b, pool))
		}
		msg = msg[n:]
	}
	return out
}

// transmit marshals c with Codec and unmarshals it from 16 KiB frames, which it
// frees afterwards as gRPC does: the received Chunk holds its own references.
func transmit(t testing.TB, c *Chunk, pool mem.BufferPool) *Chunk {
	t.Helper()
	out, err := Codec{}.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	msg := out.Materialize()
	out.Free()
	in := frames(msg, 16<<10, pool)
	defer in.Free()
	got := new(Chunk)
	if err := (Codec{}).Unmarshal(in, got); err != nil {
		t.Fatal(err)
	}
	return got
}

func chunkCases() []*pb.BatchChunk {
	return []*pb.BatchChunk{
		{},
		{Stream: "st", Unit: "unit-1", Position: []byte{0, 1, 2}, HasPosition: true, HasRecord: true, Data: []byte("x"), More: true},
		{HasPosition: true, HasRecord: true, Data: bytes.Repeat([]byte("0123456789"), 5000)},
		{Stream: strings.Repeat("s", 300), Unit: "ü", Data: bytes.Repeat([]byte{7}, 16<<10)},
		{More: true, Data: bytes.Repeat([]byte{1}, 100)},
		{Status: proto.String("waiting 2s: rate limited")},
		{Status: proto.String("")},
	}
}

func newChunk(m *pb.BatchChunk) *Chunk {
	c := &Chunk{Head: m}
	if len(m.Data) > 0 {
		c.Data = mem.BufferSlice{mem.SliceBuffer(m.Data[:len(m.Data)/2]), mem.SliceBuffer(m.Data[len(m.Data)/2:])}
	}
	return c
}

func sameChunk(t *testing.T, got *Chunk, want *pb.BatchChunk) {
	t.Helper()
	head := proto.Clone(got.Head).(*pb.BatchChunk)
	head.Data = got.Data.Materialize()
	if len(head.Data) == 0 {
		head.Data = nil
	}
	if !proto.Equal(head, want) {
		t.Errorf("got %v, want %v", head, want)
	}
}

// Codec's chunks are protobuf, which any peer reads.
func TestCodecWritesProtobuf(t *testing.T) {
	for _, want := range chunkCases() {
		out, err := Codec{}.Marshal(newChunk(want))
		if err != nil {
			t.Fatal(err)
		}
		var got pb.BatchChunk
		if err := proto.Unmarshal(out.Materialize(), &got); err != nil {
			t.Fatalf("%v: %v", want, err)
		}
		out.Free()
		if !proto.Equal(&got, want) {
			t.Errorf("got %v, want %v", &got, want)
		}
	}
}

// Codec reads what any protobuf encoder writes, wherever gRPC's frames cut
// it: fields in another order, repeated scalars (the last wins), unknown
// fields.
func TestCodecReadsProtobuf(t *testing.T) {
	for _, want := range chunkCases() {
		msg, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		earlier := protowire.AppendTag(nil, unitField, protowire.BytesType)
		earlier = protowire.AppendString(earlier, "overwritten")
		earlier = protowire.AppendTag(earlier, dataField, protowire.BytesType)
		earlier = protowire.AppendBytes(earlier, []byte("overwritten"))
		msg = append(earlier, msg...)
		if want.Unit == "" { // proto3 leaves out empty fields: say it again
			msg = protowire.AppendTag(msg, unitField, protowire.BytesType)
			msg = protowire.AppendString(msg, "")
		}
		if len(want.Data) == 0 {
			msg = protowire.AppendTag(msg, dataField, protowire.BytesType)
			msg = protowire.AppendBytes(msg, nil)
		}
		msg = protowire.AppendTag(msg, 20, protowire.VarintType)
		msg = protowire.AppendVarint(msg, 1<<40)
		msg = protowire.AppendTag(msg, 21, protowire.BytesType)
		msg = protowire.AppendBytes(msg, []byte("unknown"))
		msg = protowire.AppendTag(msg, 22, protowire.Fixed32Type)
		msg = protowire.AppendFixed32(msg, 1)
		msg = protowire.AppendTag(msg, 23, protowire.Fixed64Type)
		msg = protowire.AppendFixed64(msg, 1)
		for _, size := range []int{1, 3, 16 << 10, len(msg)} {
			pool := &countingPool{}
			in := frames(msg, size, pool)
			got := new(Chunk)
			if err := (Codec{}).Unmarshal(in, got); err != nil {
				t.Fatalf("frames of %d: %v", size, err)
			}
			in.Free()
			sameChunk(t, got, want)
			got.Free()
			if n := pool.held(); n != 0 {
				t.Errorf("frames of %d: %d buffers not freed", size, n)
			}
		}
	}
}

func TestCodecRejects(t *testing.T) {
	valid, _ := proto.Marshal(&pb.BatchChunk{Stream: "s", Data: []byte("0123456789")})
	cases := []struct {
		name, want string
		msg        []byte
	}{
		{"cut-in-data", "ends inside a field", valid[:len(valid)-1]},
		{"cut-in-tag", "ends inside a field", []byte{0x80}},
		{"cut-in-unknown", "ends inside a field", protowire.AppendTag(nil, 22, protowire.Fixed64Type)},
		{"not-utf8", "invalid UTF-8", protowire.AppendString(protowire.AppendTag(nil, streamField, protowire.BytesType), "\xff")},
		{"group", "unsupported wire type", protowire.AppendTag(nil, 9, protowire.StartGroupType)},
		{"field-zero", "invalid field number", []byte{0x02, 0x00}},
		{"long-varint", "longer than 10 bytes", append(protowire.AppendTag(nil, moreField, protowire.VarintType), bytes.Repeat([]byte{0xff}, 11)...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// A valid data field first, which the codec takes a view of
			// before it finds the problem.
			msg := protowire.AppendTag(nil, dataField, protowire.BytesType)
			msg = protowire.AppendBytes(msg, make([]byte, 5000))
			pool := &countingPool{}
			in := frames(append(msg, c.msg...), 2000, pool)
			got := new(Chunk)
			err := Codec{}.Unmarshal(in, got)
			in.Free()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error saying %q", err, c.want)
			}
			if n := pool.held(); n != 0 {
				t.Errorf("%d buffers not freed", n)
			}
		})
	}
}

// Every other message goes through gRPC's protobuf codec.
func TestCodecOtherMessages(t *testing.T) {
	want := &pb.WriteReply{CommitWanted: true, Error: &pb.Error{Kind: pb.Error_TRANSIENT, Message: "busy", RetryAfterMs: 10}}
	out, err := Codec{}.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got := new(pb.WriteReply)
	if err := (Codec{}).Unmarshal(out, got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
