package coretest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
)

// SourceOptions tunes Source. The zero value suits a small finite source.
type SourceOptions struct {
	// Units is how many of the source's units (the first ones Units lists) the
	// suite reads; default 2.
	Units int
	// Live says the source's units have no end: the suite reads Batches batches
	// of a unit and then cancels, instead of reading to the end, and expects
	// Read to return an error wrapping context.Canceled.
	Live bool
	// Batches is how many batches the suite reads from a live unit; default 6.
	Batches int
	// Resumes is how many saved positions the resume check reads from besides
	// the start and the end; default 3.
	Resumes int
	// Timeout bounds each Read, and the wait for Read to return once its context
	// is cancelled; default 10s.
	Timeout time.Duration
}

func (o SourceOptions) withDefaults() SourceOptions {
	if o.Units <= 0 {
		o.Units = 2
	}
	if o.Batches <= 0 {
		o.Batches = 6
	}
	if o.Resumes <= 0 {
		o.Resumes = 3
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	return o
}

// Source runs the conformance suite for a source as subtests of t:
//
//   - units: Units lists distinct, non-empty ids, the same on every call.
//   - read: Read of a unit emits valid records of that unit, each batch with
//     a non-nil position, and returns nil at the end of a finite unit.
//   - resume: a second read from the start emits the same rows; a Read from
//     each of several positions saved during the first read emits exactly the
//     rows that came after it (compared with array.RecordEqual, stream by
//     stream, whatever the batch boundaries); from the last position of a
//     finite unit it emits nothing.
//   - cancel: with the context cancelled before Read, from inside emit, from
//     outside while emit blocks, or from outside at any moment, Read returns
//     promptly an error wrapping context.Canceled (or nil if a finite unit had
//     ended).
//   - emit-error: when emit returns an error, Read returns an error wrapping
//     it and does not call emit again.
//
// Every subtest calls newSource for a fresh source built on a checked allocator,
// releases every emitted record, closes the source and asserts that the
// allocator is back at zero, so a leaked record fails the subtest. The
// allocator poisons freed memory, so reading a released record shows up as
// wrong data. Give the suite a small source: finite units are read to the end
// several times.
func Source(t *testing.T, newSource func(t *testing.T, mem memory.Allocator) core.Source, opts SourceOptions) {
	t.Helper()
	opts = opts.withDefaults()
	run := func(name string, test func(t *testing.T, src core.Source, units []string)) {
		t.Run(name, func(t *testing.T) {
			mem := newAllocator()
			src := newSource(t, mem)
			ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
			units, err := src.Units(ctx)
			cancel()
			if err != nil {
				t.Fatalf("Units: %v", err)
			}
			if len(units) == 0 {
				t.Fatalf("Units: got no units, want at least one")
			}
			test(t, src, units[:min(len(units), opts.Units)])
			if err := src.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			mem.AssertSize(t, 0)
		})
	}

	run("units", func(t *testing.T, src core.Source, _ []string) {
		first, err := src.Units(context.Background())
		if err != nil {
			t.Fatalf("Units: %v", err)
		}
		second, err := src.Units(context.Background())
		if err != nil {
			t.Fatalf("second Units: %v", err)
		}
		if !slices.Equal(first, second) {
			t.Errorf("second Units: got %q, want %q (the same as the first call)", second, first)
		}
		seen := map[string]bool{}
		for _, u := range first {
			if u == "" {
				t.Errorf("Units: got an empty unit id in %q", first)
			}
			if seen[u] {
				t.Errorf("Units: got unit %q twice", u)
			}
			seen[u] = true
		}
	})

	run("read", func(t *testing.T, src core.Source, units []string) {
		for _, u := range units {
			batches := readAll(t, src, u, nil, opts)
			for i, b := range batches {
				checkBatch(t, "Read("+u+")", i, b, u, true)
			}
			release(batches)
		}
	})

	run("resume", func(t *testing.T, src core.Source, units []string) {
		for _, u := range units {
			testResume(t, src, u, opts)
		}
	})

	for _, c := range cancelCases {
		run("cancel/"+c.name, func(t *testing.T, src core.Source, units []string) {
			testCancel(t, src, units[0], c, opts)
		})
	}

	run("emit-error", func(t *testing.T, src core.Source, units []string) {
		errStop := errors.New("coretest: downstream stopped")
		var mu sync.Mutex
		calls := 0
		emit := func(_ context.Context, b core.Batch) error {
			b.Release()
			mu.Lock()
			defer mu.Unlock()
			calls++
			return errStop
		}
		err := readWithTimeout(t, context.Background(), src, units[0], nil, emit, opts.Timeout)
		mu.Lock()
		defer mu.Unlock()
		if calls == 0 {
			t.Fatalf("Read(%s): emitted nothing; the check needs a unit with rows", units[0])
		}
		if !errors.Is(err, errStop) {
			t.Errorf("Read(%s) with a failing emit: got error %v, want one wrapping %v", units[0], err, errStop)
		}
		if calls > 1 {
			t.Errorf("Read(%s): called emit %d times, want 1 (it must stop after emit fails)", units[0], calls)
		}
	})
}

// testResume reads unit u in full, then again from the start and from several
// of the positions the full read saved, comparing each with the rows that
// followed that position.
func testResume(t *testing.T, src core.Source, u string, opts SourceOptions) {
	t.Helper()
	full := readAll(t, src, u, nil, opts)
	defer release(full)
	if len(full) == 0 {
		t.Errorf("Read(%s): emitted nothing; the resume check needs a unit with rows", u)
		return
	}
	for i, b := range full {
		if b.Position == nil {
			t.Fatalf("Read(%s): batch %d has a nil Position", u, i)
		}
	}

	// -1 stands for "from the start"; then evenly spread batches, then (finite
	// units only) the last batch, after which nothing may follow.
	ks := []int{-1}
	last := len(full) - 1
	for r := 1; r <= opts.Resumes && last > 0; r++ {
		k := r * last / (opts.Resumes + 1)
		if !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	if !opts.Live && !slices.Contains(ks, last) {
		ks = append(ks, last)
	}
	for _, k := range ks {
		var from core.Position
		what := fmt.Sprintf("Read(%s) from the start again", u)
		if k >= 0 {
			from = full[k].Position
			what = fmt.Sprintf("Read(%s) from batch %d's position %x", u, k, []byte(from))
		}
		tail := full[k+1:]
		var got []core.Batch
		if opts.Live {
			got = readRows(t, src, u, from, countBatchRows(tail), opts)
		} else {
			got = readAll(t, src, u, from, opts)
		}
		for i, b := range got {
			checkBatch(t, what, i, b, u, true)
		}
		if opts.Live {
			got = firstRows(got, countBatchRows(tail))
		}
		rowsEqual(t, what, tail, got)
		release(got)
	}
}

type cancelCase struct {
	name string
	doc  string
}

var cancelCases = []cancelCase{
	{"before-read", "the context is cancelled before Read"},
	{"in-emit", "emit cancels the context on the first batch and returns nil"},
	{"emit-blocked", "emit blocks until the context is cancelled from outside, then returns its error"},
	{"outside", "the context is cancelled from outside soon after Read starts"},
}

// cancelDelay is how long after Read starts the outside cancellations come.
const cancelDelay = 20 * time.Millisecond

func testCancel(t *testing.T, src core.Source, u string, c cancelCase, opts SourceOptions) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu      sync.Mutex
		batches []core.Batch
	)
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		release(batches)
	}()
	emit := func(_ context.Context, b core.Batch) error {
		mu.Lock()
		first := len(batches) == 0
		batches = append(batches, b)
		mu.Unlock()
		// Like the runner: once stopping, emit takes the batch and fails.
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case c.name == "in-emit" && first:
			cancel()
		case c.name == "emit-blocked":
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	switch c.name {
	case "before-read":
		cancel()
	case "emit-blocked", "outside":
		timer := time.AfterFunc(cancelDelay, cancel)
		defer timer.Stop()
	}
	err := readWithTimeout(t, ctx, src, u, nil, emit, opts.Timeout)
	switch {
	case err == nil && opts.Live:
		t.Errorf("Read(%s) of a live unit when %s: got nil, want an error wrapping context.Canceled", u, c.doc)
	case err != nil && !errors.Is(err, context.Canceled):
		t.Errorf("Read(%s) when %s: got error %v, want one wrapping context.Canceled (or nil if the unit ended)", u, c.doc, err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, b := range batches {
		checkBatch(t, "Read("+u+") when "+c.doc, i, b, u, true)
	}
}

// readAll reads unit u from from to its end, or for a live source until
// opts.Batches batches have come; the caller releases the batches.
func readAll(t *testing.T, src core.Source, u string, from core.Position, opts SourceOptions) []core.Batch {
	t.Helper()
	if !opts.Live {
		return read(t, src, u, from, opts, nil)
	}
	return read(t, src, u, from, opts, func(bs []core.Batch) bool { return len(bs) >= opts.Batches })
}

// readRows reads a live unit until at least n rows have come.
func readRows(t *testing.T, src core.Source, u string, from core.Position, n int64, opts SourceOptions) []core.Batch {
	t.Helper()
	return read(t, src, u, from, opts, func(bs []core.Batch) bool { return countBatchRows(bs) >= n })
}

// read runs Read, collecting the batches it emits. When enough reports true the
// suite cancels the read and then expects context.Canceled; with enough nil
// it expects Read to end with nil. Failures to return in time are fatal.
func read(t *testing.T, src core.Source, u string, from core.Position, opts SourceOptions, enough func([]core.Batch) bool) []core.Batch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu      sync.Mutex
		batches []core.Batch
		stopped bool
	)
	emit := func(_ context.Context, b core.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			b.Release()
			return ctx.Err()
		}
		batches = append(batches, b)
		if enough != nil && enough(batches) {
			stopped = true
			cancel()
		}
		return nil
	}
	err := readWithTimeout(t, ctx, src, u, from, emit, opts.Timeout)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case enough == nil && err != nil:
		release(batches)
		t.Fatalf("Read(%s) from %x: %v", u, []byte(from), err)
	case enough != nil && !errors.Is(err, context.Canceled):
		release(batches)
		t.Fatalf("Read(%s) of a live unit from %x, cancelled after %d batches: got error %v, want one wrapping context.Canceled", u, []byte(from), len(batches), err)
	}
	return batches
}

// readWithTimeout runs src.Read and fails t if it does not return within
// timeout (after which it cancels ctx and gives Read another timeout to return,
// so that its goroutine does not outlive the test).
func readWithTimeout(t *testing.T, ctx context.Context, src core.Source, u string, from core.Position, emit core.Emit, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Read(ctx, u, from, emit) }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
	}
	cancel()
	timer.Reset(timeout)
	select {
	case <-done:
		t.Fatalf("Read(%s) from %x: still running after %s", u, []byte(from), timeout)
	case <-timer.C:
		t.Fatalf("Read(%s) from %x: still running after %s, and %s after its context was cancelled", u, []byte(from), timeout, timeout)
	}
	return nil
}

// firstRows returns the batches holding the first n rows of bs, releasing the
// rest; the last one kept is cut to size.
func firstRows(bs []core.Batch, n int64) []core.Batch {
	var out []core.Batch
	for _, b := range bs {
		rows := b.Rows()
		switch {
		case n <= 0:
			b.Release()
		case rows <= n:
			out = append(out, b)
		default:
			cut := b
			cut.Record = b.Record.NewSlice(0, n)
			b.Release()
			out = append(out, cut)
		}
		n -= rows
	}
	return out
}

func countBatchRows(bs []core.Batch) int64 {
	var n int64
	for _, b := range bs {
		n += b.Rows()
	}
	return n
}

func release(bs []core.Batch) {
	for _, b := range bs {
		b.Release()
	}
}
