package reorder

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
)

// TestConformance runs core's transform conformance suite over the suite's
// sample batches (event time "ts") of two units, and out-of-order messages
// with late rows and duplicates (dead-lettered or dropped as duplicates, so
// the suite is told rows may go).
func TestConformance(t *testing.T) {
	coretest.Transform(t, func(t *testing.T, mem memory.Allocator, dl core.DeadLetters) core.Transform {
		cfg := DefaultConfig()
		cfg.Time = "ts"
		cfg.MaxDelay = 4 * time.Second
		tr, err := New(cfg, mem, nil, dl)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}, func(mem memory.Allocator) []core.Batch {
		var in []core.Batch
		a := coretest.SampleBatches(mem, "device/1", 3, 50)
		b := coretest.SampleBatches(mem, "device/2", 2, 20)
		// Newest batches first: their rows are late or held back.
		in = append(in, a[2], b[1], a[0], b[0], a[1])
		return in
	}, coretest.TransformOptions{})

	coretest.Transform(t, func(t *testing.T, mem memory.Allocator, dl core.DeadLetters) core.Transform {
		cfg := DefaultConfig()
		cfg.BufferSize = 2
		tr, err := New(cfg, mem, nil, dl)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}, func(mem memory.Allocator) []core.Batch {
		return []core.Batch{
			msgs(t, mem, "d1", 0, "3:c 1:a 2:b"),
			msgs(t, mem, "d2", 0, "1:a"),
			msgs(t, mem, "d1", 1, "6:f 0:late 5:e 4:d"),
			msgs(t, mem, "d1", 2, ""),
			msgs(t, mem, "d2", 1, "null:n 2:b"),
		}
	}, coretest.TransformOptions{Filter: true})
}
