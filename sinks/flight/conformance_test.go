package flight_test

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
	"github.com/etl-toolkit/etl/sinks/flight/flightserve"
)

// TestConformance runs core's sink suite against flightserve over loopback:
// what Verify reads back went through Flight, Parquet and Flight again.
func TestConformance(t *testing.T) {
	addrs := map[*testing.T]string{}
	coretest.Sink(t, func(t *testing.T, mem memory.Allocator) core.Sink {
		_, addr := serve(t, flightserve.Options{})
		addrs[t] = addr
		return newSink(t, addr, mem, nil)
	}, coretest.SinkOptions{
		Verify: func(t *testing.T, _ core.Sink, want []arrow.RecordBatch) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			got := readBack(t, addrs[t], mem, "test", coretest.SampleStream)
			defer release(got)
			sameRowsParquet(t, mem, got, want)
		},
	})
}
