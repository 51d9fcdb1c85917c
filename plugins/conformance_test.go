package plugins_test

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
)

// Built-ins run out of process (`external:builtin:NAME`, served by the test
// binary as `etl plugin serve NAME` would) pass the conformance suites like
// the built-ins themselves.
func TestBuiltinConformance(t *testing.T) {
	t.Run("source", func(t *testing.T) {
		coretest.Source(t, func(t *testing.T, mem memory.Allocator) core.Source {
			return openSource(t, "builtin:generate", "{units: 2, rows: 500, batch_size: 64}", mem)
		}, coretest.SourceOptions{})
	})
	t.Run("live-source", func(t *testing.T) {
		coretest.Source(t, func(t *testing.T, mem memory.Allocator) core.Source {
			return openSource(t, "builtin:generate", "{units: 2, endless: true, batch_size: 16}", mem)
		}, coretest.SourceOptions{Live: true})
	})
	t.Run("sink", func(t *testing.T) {
		coretest.Sink(t, func(t *testing.T, mem memory.Allocator) core.Sink {
			return openSink(t, "builtin:csv", "path: "+t.TempDir(), mem)
		}, coretest.SinkOptions{})
	})
	t.Run("transform", func(t *testing.T) {
		coretest.Transform(t, func(t *testing.T, mem memory.Allocator, dl core.DeadLetters) core.Transform {
			return openTransform(t, "builtin:si_units", "", mem, dl)
		}, func(mem memory.Allocator) []core.Batch {
			return append(coretest.SampleBatches(mem, "unit-a", 3, 100), coretest.SampleBatches(mem, "unit-b", 2, 50)...)
		}, coretest.TransformOptions{})
	})
	t.Run("transform-dead-letters", func(t *testing.T) {
		coretest.Transform(t, func(t *testing.T, mem memory.Allocator, dl core.DeadLetters) core.Transform {
			return openTransform(t, faultyBin, "reject_first: true", mem, dl)
		}, func(mem memory.Allocator) []core.Batch {
			return append(coretest.SampleBatches(mem, "unit-a", 3, 100), coretest.SampleBatches(mem, "unit-b", 2, 50)...)
		}, coretest.TransformOptions{})
	})
}
