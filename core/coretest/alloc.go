package coretest

import (
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// poisonByte is what freed memory is overwritten with.
const poisonByte = 0xA5

// poisonAllocator overwrites memory with poisonByte when it is freed, so that a
// component that reads a record after dropping its last reference (a sink that
// keeps a batch past Write without Retain) reads garbage that the suite's
// comparisons notice, instead of data the Go allocator happens to leave intact.
type poisonAllocator struct {
	mem memory.Allocator
}

func (a poisonAllocator) Allocate(size int) []byte { return a.mem.Allocate(size) }

func (a poisonAllocator) Reallocate(size int, b []byte) []byte {
	out := a.mem.Allocate(size)
	copy(out, b)
	a.Free(b)
	return out
}

func (a poisonAllocator) Free(b []byte) {
	for i := range b {
		b[i] = poisonByte
	}
	a.mem.Free(b)
}

// newAllocator returns a checked allocator over poisoned Go memory. Callers
// assert it is back at zero when they are done.
func newAllocator() *memory.CheckedAllocator {
	return memory.NewCheckedAllocator(poisonAllocator{mem: memory.NewGoAllocator()})
}
