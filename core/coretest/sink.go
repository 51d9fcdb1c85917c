package coretest

import (
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
)

// SinkOptions tunes Sink.
type SinkOptions struct {
	// Timeout bounds each call to the sink; default 10s.
	Timeout time.Duration
	// Verify, if set, reads back what the sink made visible and fails t unless
	// it holds exactly the rows of committed, in order where the destination
	// keeps an order. The suite calls it at the end of a subtest, after Close,
	// with the subtest's t (the one newSink got) and the closed sink. committed
	// is empty in the subtests that check that nothing became visible. The
	// records are only valid during the call.
	Verify func(t *testing.T, sink core.Sink, committed []arrow.RecordBatch)
}

// sinkBatches is how many batches, and of how many rows, the sink checks write.
const (
	sinkBatches = 3
	sinkRows    = 100
)

// Sink runs the conformance suite for a sink as subtests of t:
//
//   - commit: Write then Prepare then Commit makes the rows visible, and a second
//     Commit of the same transaction succeeds without writing them twice.
//   - two-commits: rows of two rounds of Write, Prepare, Commit are all visible.
//   - empty-prepare: Prepare with nothing written returns a nil transaction or
//     one whose Commit succeeds, and nothing becomes visible.
//   - close-discards: rows written but not prepared never become visible.
//   - prepared-not-committed: rows prepared but not committed stay invisible
//     (unless Prepare returned a nil transaction, which says they are visible).
//   - cancelled: with a cancelled context, Write and Prepare return (an error or
//     nil) rather than hang.
//
// The batches are SampleBatches of two units; the suite releases each one right
// after Write returns, as the runner does, on a checked allocator that poisons
// freed memory, so a sink that keeps a record without Retain writes garbage
// that Verify catches, and one that keeps a record after Close fails the
// allocator check. Every subtest calls newSink for a fresh sink and ends with
// Close.
func Sink(t *testing.T, newSink func(t *testing.T, mem memory.Allocator) core.Sink, opts SinkOptions) {
	t.Helper()
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	run := func(name string, test func(t *testing.T, s *sinkCheck)) {
		t.Run(name, func(t *testing.T) {
			mem := newAllocator()
			wantMem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			s := &sinkCheck{t: t, opts: opts, mem: mem, wantMem: wantMem}
			s.sink = newSink(t, mem)
			test(t, s)
			if !s.closed {
				s.close()
			}
			mem.AssertSize(t, 0)
			wantMem.AssertSize(t, 0)
		})
	}

	run("commit", func(t *testing.T, s *sinkCheck) {
		s.write(context.Background(), 0, sinkBatches)
		txn := s.prepare(context.Background())
		if txn != nil {
			s.commit(txn)
			s.commit(txn)
		}
		s.close()
		s.verify(0, sinkBatches)
	})

	run("two-commits", func(t *testing.T, s *sinkCheck) {
		s.write(context.Background(), 0, 1)
		if txn := s.prepare(context.Background()); txn != nil {
			s.commit(txn)
		}
		s.write(context.Background(), 1, sinkBatches)
		if txn := s.prepare(context.Background()); txn != nil {
			s.commit(txn)
		}
		s.close()
		s.verify(0, sinkBatches)
	})

	run("empty-prepare", func(t *testing.T, s *sinkCheck) {
		if txn := s.prepare(context.Background()); txn != nil {
			s.commit(txn)
			s.commit(txn)
		}
		s.close()
		s.verify(0, 0)
	})

	run("close-discards", func(t *testing.T, s *sinkCheck) {
		s.write(context.Background(), 0, sinkBatches)
		s.close()
		s.verify(0, 0)
	})

	run("prepared-not-committed", func(t *testing.T, s *sinkCheck) {
		s.write(context.Background(), 0, sinkBatches)
		txn := s.prepare(context.Background())
		s.close()
		if txn == nil {
			s.verify(0, sinkBatches) // Prepare made them visible itself
		} else {
			s.verify(0, 0)
		}
	})

	run("cancelled", func(t *testing.T, s *sinkCheck) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for i, b := range s.batches(0, sinkBatches) {
			// Any outcome but a hang is fine: the run is stopping.
			_ = s.call("Write", i, func() error { return s.sink.Write(ctx, b) })
			b.Release()
		}
		_ = s.call("Prepare", -1, func() error {
			_, err := s.sink.Prepare(ctx)
			return err
		})
		s.close()
	})
}

// sinkCheck drives one sink through one subtest.
type sinkCheck struct {
	t       *testing.T
	opts    SinkOptions
	mem     memory.Allocator // the sink's, checked and poisoned
	wantMem memory.Allocator // for the expected records handed to Verify
	sink    core.Sink
	closed  bool
}

// batches returns sample batches lo..hi-1 of the suite's sequence, alternating
// between two units, built on the sink's allocator.
func (s *sinkCheck) batches(lo, hi int) []core.Batch { return sampleRange(s.mem, lo, hi) }

func sampleRange(mem memory.Allocator, lo, hi int) []core.Batch {
	var out []core.Batch
	for i := lo; i < hi; i++ {
		unit := [...]string{"unit-a", "unit-b"}[i%2]
		bs := SampleBatches(mem, unit, i/2+1, sinkRows)
		for _, b := range bs[:len(bs)-1] {
			b.Release()
		}
		out = append(out, bs[len(bs)-1])
	}
	return out
}

// write writes batches lo..hi-1, releasing each one as soon as Write returns.
func (s *sinkCheck) write(ctx context.Context, lo, hi int) {
	s.t.Helper()
	for i, b := range s.batches(lo, hi) {
		err := s.call("Write", lo+i, func() error { return s.sink.Write(ctx, b) })
		b.Release()
		if err != nil {
			s.t.Fatalf("Write(batch %d): %v", lo+i, err)
		}
	}
}

func (s *sinkCheck) prepare(ctx context.Context) []byte {
	s.t.Helper()
	var txn []byte
	if err := s.call("Prepare", -1, func() (err error) {
		txn, err = s.sink.Prepare(ctx)
		return err
	}); err != nil {
		s.t.Fatalf("Prepare: %v", err)
	}
	return txn
}

func (s *sinkCheck) commit(txn []byte) {
	s.t.Helper()
	if err := s.call("Commit", -1, func() error { return s.sink.Commit(context.Background(), txn) }); err != nil {
		s.t.Fatalf("Commit(%q): %v", txn, err)
	}
}

func (s *sinkCheck) close() {
	s.t.Helper()
	s.closed = true
	if err := s.call("Close", -1, s.sink.Close); err != nil {
		s.t.Errorf("Close: %v", err)
	}
}

// verify hands batches lo..hi-1 of the sequence, freshly built, to opts.Verify.
func (s *sinkCheck) verify(lo, hi int) {
	s.t.Helper()
	if s.opts.Verify == nil {
		return
	}
	want := sampleRange(s.wantMem, lo, hi)
	defer release(want)
	recs := make([]arrow.RecordBatch, len(want))
	for i, b := range want {
		recs[i] = b.Record
	}
	s.opts.Verify(s.t, s.sink, recs)
}

// call runs fn, failing the test if it does not return within the timeout.
func (s *sinkCheck) call(name string, batch int, fn func() error) error {
	s.t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	timer := time.NewTimer(s.opts.Timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		if batch >= 0 {
			s.t.Fatalf("%s(batch %d): still running after %s", name, batch, s.opts.Timeout)
		}
		s.t.Fatalf("%s: still running after %s", name, s.opts.Timeout)
		return nil
	}
}
