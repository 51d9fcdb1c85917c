package wire

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestRecordPool(t *testing.T) {
	for _, c := range []struct{ size, wantCap int }{
		{10, 10},                 // the Go allocator's
		{64 << 10, 64 << 10},     // the smallest class
		{64<<10 + 1, 128 << 10},  // the next one
		{3 << 20, 4 << 20},       // a batch's body
		{64 << 20, 64 << 20},     // the largest class
		{64<<20 + 1, 64<<20 + 1}, // the Go allocator's
	} {
		b := RecordPool.Allocate(c.size)
		if len(b) != c.size || cap(b) < c.wantCap || (c.wantCap >= 64<<10 && cap(b) != c.wantCap) {
			t.Errorf("Allocate(%d): got len %d cap %d, want len %d cap %d", c.size, len(b), cap(b), c.size, c.wantCap)
		}
		if addr := uintptr(unsafe.Pointer(unsafe.SliceData(b))); addr%64 != 0 {
			t.Errorf("Allocate(%d): got address %#x, want it 64-byte aligned", c.size, addr)
		}
		RecordPool.Free(b)
	}
	b := RecordPool.Allocate(100 << 10)
	copy(b, bytes.Repeat([]byte{7}, len(b)))
	b = RecordPool.Reallocate(200<<10, b)
	if len(b) != 200<<10 || !bytes.Equal(b[:100<<10], bytes.Repeat([]byte{7}, 100<<10)) {
		t.Errorf("Reallocate: got len %d, want 204800 starting with the old bytes", len(b))
	}
	if r := RecordPool.Reallocate(150<<10, b); unsafe.SliceData(r) != unsafe.SliceData(b) {
		t.Error("Reallocate to a smaller size: got new memory, want the same buffer")
	}
	RecordPool.Free(b)
	RecordPool.Free(make([]byte, 100<<10)) // not the pool's: left to the GC
}

// Batches decoded into RecordPool give all their memory back when released.
func TestRecordPoolDecode(t *testing.T) {
	mem := memory.NewCheckedAllocator(RecordPool)
	defer mem.AssertSize(t, 0)
	in := stringBatch(memory.DefaultAllocator, 5000, 100)
	defer in.Release()
	var asm Assembler
	if _, err := SendBatch(in, func(c *Chunk) error {
		_, err := asm.Add(transmit(t, c, &countingPool{}))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	out, err := asm.Batch(mem)
	if err != nil {
		t.Fatal(err)
	}
	if !array.RecordEqual(out.Record, in.Record) {
		t.Errorf("got %v, want %v", out.Record, in.Record)
	}
	out.Release()
}

func TestBufferPool(t *testing.T) {
	p := &bufferPool{size: 1024}
	b := p.Get(100)
	if len(*b) != 100 || cap(*b) != 1024 {
		t.Errorf("Get(100): got len %d cap %d, want 100 and 1024", len(*b), cap(*b))
	}
	p.Put(b)
	if b := p.Get(1024); len(*b) != 1024 || cap(*b) != 1024 {
		t.Errorf("Get(1024): got len %d cap %d, want 1024 and 1024", len(*b), cap(*b))
	}
	big := p.Get(5000)
	if len(*big) != 5000 {
		t.Errorf("Get(5000): got len %d, want 5000", len(*big))
	}
	p.Put(big) // not kept: it would be too large for the next Get
	for range 10 {
		if b := p.Get(10); cap(*b) != 1024 {
			t.Fatalf("Get(10) after a Put of a larger buffer: got cap %d, want 1024", cap(*b))
		}
	}
}
