package flight_test

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/util"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
	"github.com/etl-toolkit/etl/sinks/flight"
)

// BenchmarkPut sends 1,000,000 rows (100 batches of 10,000 of coretest's
// sample schema: strings, integers, timestamps, floats, booleans, lists) per
// iteration over loopback to a Flight server that decodes and drops them,
// and waits for the acknowledgement. MB/s counts the Arrow data sent,
// wire-MB/s the gRPC messages (smaller when compressed); the server's
// decoding shares the machine.
func BenchmarkPut(b *testing.B) {
	const batches, rows = 100, 10_000
	mem := memory.NewGoAllocator()
	var data []core.Batch
	for i := range batches / 10 {
		data = append(data, coretest.SampleBatches(mem, "unit-"+string(rune('a'+i)), 10, rows)...)
	}
	defer releaseBatches(data)
	var size int64
	for _, d := range data {
		size += util.TotalRecordSize(d.Record)
	}
	for _, compression := range flight.Compressions {
		b.Run(compression, func(b *testing.B) {
			srv, addr := serveCapture(b, mem)
			srv.discard = true
			s := newSink(b, addr, mem, func(c *flight.Config) { c.Compression = compression })
			ctx := context.Background()
			b.SetBytes(size)
			b.ResetTimer()
			for b.Loop() {
				for _, d := range data {
					if err := s.Write(ctx, d); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := s.Prepare(ctx); err != nil {
					b.Fatal(err)
				}
			}
			secs := b.Elapsed().Seconds()
			b.ReportMetric(float64(batches*rows)*float64(b.N)/secs, "rows/s")
			srv.mu.Lock()
			b.ReportMetric(float64(srv.wire)/1e6/secs, "wire-MB/s")
			srv.mu.Unlock()
		})
	}
}
