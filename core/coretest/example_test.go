package coretest_test

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
	"github.com/etl-toolkit/etl/sources/generate"
)

// A source's own test hands the suite a constructor that builds the source on
// the allocator it is given. Live sources set SourceOptions.Live.
func ExampleSource() {
	testConformance := func(t *testing.T) {
		coretest.Source(t, func(t *testing.T, mem memory.Allocator) core.Source {
			cfg := generate.DefaultConfig()
			cfg.Units, cfg.Rows, cfg.BatchSize = 2, 500, 64
			src, err := generate.NewSource(cfg, mem)
			if err != nil {
				t.Fatal(err)
			}
			return src
		}, coretest.SourceOptions{})
	}
	_ = testConformance // func TestConformance(t *testing.T) { ... } in your _test.go file
}

// A sink's test reads back what the sink made visible in Verify, e.g. by
// opening the files it wrote into a directory the constructor chose.
func ExampleSink() {
	testConformance := func(t *testing.T) {
		coretest.Sink(t, func(t *testing.T, mem memory.Allocator) core.Sink {
			return newMemSink("good") // your sink, writing under t.TempDir()
		}, coretest.SinkOptions{
			Verify: func(t *testing.T, sink core.Sink, committed []arrow.RecordBatch) {
				// Read the destination back and compare it with committed.
				verifyMemSink(t, sink, committed)
			},
		})
	}
	_ = testConformance
}

// A transform's test gives the input batches; SampleBatches makes some.
func ExampleTransform() {
	testConformance := func(t *testing.T) {
		coretest.Transform(t, func(t *testing.T, mem memory.Allocator, dl core.DeadLetters) core.Transform {
			return newMemTransform("hold", dl) // your transform, built with dl
		}, func(mem memory.Allocator) []core.Batch {
			return append(coretest.SampleBatches(mem, "unit-a", 3, 100), coretest.SampleBatches(mem, "unit-b", 2, 50)...)
		}, coretest.TransformOptions{})
	}
	_ = testConformance
}
