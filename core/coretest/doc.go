// Package coretest is the conformance suite that every source, transform and sink
// passes, built-in or third-party: call Source, Transform or Sink from a test of
// your own component and each runs its checks as subtests.
//
// The suite checks the contracts written in core's doc comments: a source's
// units are stable, its finite units end, every batch carries a position, a Read
// from a saved position emits exactly the rows that followed it, cancellation
// and a failing emit stop Read promptly; a sink's two-phase commit is atomic and
// idempotent and it never reads a record it did not Retain; a transform accounts
// for every row and never hands out a position past rows it still holds. Every
// check runs on a memory.CheckedAllocator (which poisons freed memory) that must
// be back at zero when the component is closed.
//
// A source's test looks like this:
//
//	func TestConformance(t *testing.T) {
//		coretest.Source(t, func(t *testing.T, mem memory.Allocator) core.Source {
//			cfg := generate.DefaultConfig()
//			cfg.Units, cfg.Rows, cfg.BatchSize = 2, 500, 64
//			src, err := generate.NewSource(cfg, mem)
//			if err != nil {
//				t.Fatal(err)
//			}
//			return src
//		}, coretest.SourceOptions{})
//	}
//
// Sink takes a Verify hook that reads back what the sink committed, and
// Transform takes the input batches to feed; SampleBatches builds batches of a
// handful of column types for either.
package coretest
