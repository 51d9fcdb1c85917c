package reorder_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/reorder"
)

// Messages of one device arrive out of order; with a watermark 2 s behind the
// newest event time they come out sorted, and the one that arrives after a
// newer row went out is dropped as late.
func Example() {
	cfg := reorder.DefaultConfig()
	cfg.MaxDelay = 2 * time.Second
	cfg.Late = reorder.LateDrop
	tr, _ := reorder.New(cfg, memory.DefaultAllocator, nil, nil)
	defer tr.Close()

	schema := arrow.NewSchema([]arrow.Field{{Name: "timestamp", Type: arrow.PrimitiveTypes.Int64}}, nil)
	print := func(_ context.Context, b core.Batch) error {
		defer b.Release()
		if b.Record != nil {
			fmt.Println(b.Record.Column(0))
		}
		return nil
	}
	for _, ms := range []string{"[2000, 1000, 3000]", "[5000, 4000]", "[1500, 6000]"} {
		rec, _, _ := array.RecordFromJSON(memory.DefaultAllocator, schema, strings.NewReader(`[{"timestamp":`+strings.ReplaceAll(strings.Trim(ms, "[]"), ", ", `},{"timestamp":`)+`}]`))
		_ = tr.Apply(context.Background(), core.Batch{Stream: "asi.preprocessed.gnss", Unit: "device/7", Record: rec}, print)
	}
	_ = tr.Flush(context.Background(), "device/7", print)
	fmt.Printf("%+v\n", tr.Stats())
	// Output:
	// [1000]
	// [2000 3000]
	// [4000]
	// [5000 6000]
	// {Released:6 Late:1 DeadLettered:0 Duplicates:0 TimedOut:0}
}
