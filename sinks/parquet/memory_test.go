package parquet

import (
	"context"
	"runtime"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The encoder holds one row group and a page buffer per column: encoding far
// more data than that, its heap does not grow with the file (but for the
// footer's few bytes per page and row group).
func TestMemoryBoundedByRowGroup(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	recs := azumioRecords(mem, 16<<10, 16<<10)
	rec := recs[0]
	defer rec.Release()

	// zstd, the default: the Format keeps its encoders, whose window is a
	// page, so they count once.
	cfg := DefaultConfig()
	cfg.RowGroupBytes, cfg.PageBytes = 1<<20, 256<<10
	f, err := NewFormat(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out countWriter
	enc, err := f.NewEncoder(&out, rec.Schema())
	if err != nil {
		t.Fatal(err)
	}
	heap := func() int64 {
		// Twice: the first GC moves sync.Pool contents to the victim
		// cache, the second frees them.
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	base := heap()
	var early, last, peak int64
	const batches = 24
	for i := range batches {
		if err := enc.Encode(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		last = heap() - base
		peak = max(peak, last)
		if i == batches/4 {
			early = last
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rows, %d MiB of Parquet: heap +%d KiB after a quarter, +%d KiB at the end, peak +%d KiB",
		batches*rec.NumRows(), out.n>>20, early>>10, last>>10, peak>>10)

	// Two row groups, two pages per column, and some.
	leaves := int64(rec.Schema().NumFields())
	if bound := 2*int64(cfg.RowGroupBytes) + 2*leaves*int64(cfg.PageBytes) + 8<<20; peak > bound {
		t.Errorf("heap grew by %d KiB, want at most %d KiB", peak>>10, bound>>10)
	}
	if grown := last - early; grown > 4<<20 {
		t.Errorf("heap grew by %d KiB over the last three quarters of the file, want under 4 MiB", grown>>10)
	}
}
