package reorder

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
)

// BenchmarkApply feeds one-row messages of 1,000 devices, every fifth one
// just after its successor, through a 2 s watermark: the live load's shape.
func BenchmarkApply(b *testing.B) {
	mem := memory.NewGoAllocator()
	const devices = 1000
	batches := make([]core.Batch, 0, devices*10)
	for s := range 10 {
		for d := range devices {
			t := s
			if s%5 == 0 && s+1 < 10 {
				t = s + 1
			} else if s%5 == 1 {
				t = s - 1
			}
			batches = append(batches, msgs(b, mem, fmt.Sprint("device/", d), s, fmt.Sprintf("%d:x", t*1000)))
		}
	}
	defer release(batches)
	cfg := DefaultConfig()
	cfg.MaxDelay = 2 * time.Second
	cfg.FlushTimeout = 10 * time.Second
	emit := func(_ context.Context, b core.Batch) error { b.Release(); return nil }
	b.ResetTimer()
	for range b.N {
		tr, err := New(cfg, mem, nil, &deadLetters{})
		if err != nil {
			b.Fatal(err)
		}
		for _, in := range batches {
			in.Record.Retain()
			if err := tr.Apply(context.Background(), in, emit); err != nil {
				b.Fatal(err)
			}
		}
		tr.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batches)), "ns/row")
}
