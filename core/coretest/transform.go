package coretest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
)

// TransformOptions tunes Transform.
type TransformOptions struct {
	// Filter says the transform drops rows on purpose (without dead-lettering
	// them): its output may hold fewer rows than its input.
	Filter bool
}

// Transform runs the conformance suite for a transform as subtests of t. input
// builds the batches fed to it (in order, on the allocator given); give every
// input batch a Unit and a distinct non-nil Position, as a source would.
//
//   - accounting: after Apply of every input batch and Flush of every unit,
//     each unit's input rows are all accounted for: emitted, or rejected
//     through the DeadLetters the transform was built with (or, with Filter,
//     fewer rows out is allowed). Emitted batches are valid records of an input
//     unit. A non-nil output Position must be one of its unit's input
//     positions, never go backwards, and only come once every input row up to
//     it has been emitted or rejected; the unit's last input position must
//     have come out by the end of its Flush.
//   - close-without-flush: Close with rows still held releases them.
//   - emit-error: when emit returns an error, the Apply or Flush that called it
//     returns an error wrapping it.
//
// newTransform builds a fresh transform for each subtest on mem (a checked
// allocator that poisons freed memory) with dl as its dead-letter output; each
// subtest ends with Close and asserts that the allocator is back at zero.
func Transform(t *testing.T, newTransform func(t *testing.T, mem memory.Allocator, dl core.DeadLetters) core.Transform, input func(mem memory.Allocator) []core.Batch, opts TransformOptions) {
	t.Helper()
	run := func(name string, test func(t *testing.T, tr core.Transform, in []core.Batch, dl *deadLetters)) {
		t.Run(name, func(t *testing.T) {
			mem := newAllocator()
			dl := &deadLetters{rows: map[string]int64{}}
			tr := newTransform(t, mem, dl)
			in := input(mem)
			if len(in) == 0 {
				t.Fatal("input: got no batches, want some")
			}
			test(t, tr, in, dl)
			if err := tr.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			mem.AssertSize(t, 0)
		})
	}

	run("accounting", func(t *testing.T, tr core.Transform, in []core.Batch, dl *deadLetters) {
		testAccounting(t, tr, in, dl, opts)
	})

	run("close-without-flush", func(t *testing.T, tr core.Transform, in []core.Batch, _ *deadLetters) {
		emit := func(_ context.Context, b core.Batch) error { b.Release(); return nil }
		for i, b := range in {
			if err := tr.Apply(context.Background(), b, emit); err != nil {
				release(in[i+1:])
				t.Fatalf("Apply(batch %d): %v", i, err)
			}
		}
	})

	run("emit-error", func(t *testing.T, tr core.Transform, in []core.Batch, _ *deadLetters) {
		errStop := errors.New("coretest: downstream stopped")
		called := false
		emit := func(_ context.Context, b core.Batch) error {
			b.Release()
			called = true
			return errStop
		}
		check := func(what string, err error) bool {
			t.Helper()
			switch {
			case called && !errors.Is(err, errStop):
				t.Errorf("%s with a failing emit: got error %v, want one wrapping %v", what, err, errStop)
			case !called && err != nil:
				t.Errorf("%s: %v", what, err)
			}
			return called || err != nil
		}
		for i, b := range in {
			if check("Apply", tr.Apply(context.Background(), b, emit)) {
				release(in[i+1:])
				return
			}
		}
		for _, u := range unitsOf(in) {
			if check("Flush("+u+")", tr.Flush(context.Background(), u, emit)) {
				return
			}
		}
	})
}

// unitProgress is what the accounting check knows of one unit.
type unitProgress struct {
	positions []core.Position // the unit's input positions, in order
	through   []int64         // through[k]: input rows up to and including batch k
	out       int64           // rows emitted so far
	lastPos   int             // index in positions of the last output position, -1 if none
}

func testAccounting(t *testing.T, tr core.Transform, in []core.Batch, dl *deadLetters, opts TransformOptions) {
	t.Helper()
	units := map[string]*unitProgress{}
	for i, b := range in {
		if b.Unit == "" || b.Position == nil {
			release(in)
			t.Fatalf("input batch %d: got Unit %q and Position %x, want both set", i, b.Unit, []byte(b.Position))
		}
		p := units[b.Unit]
		if p == nil {
			p = &unitProgress{lastPos: -1}
			units[b.Unit] = p
		}
		total := b.Rows()
		if n := len(p.through); n > 0 {
			total += p.through[n-1]
		}
		p.positions = append(p.positions, b.Position)
		p.through = append(p.through, total)
	}

	var what string // the call being made, for messages
	emitted := 0
	emit := func(_ context.Context, b core.Batch) error {
		defer b.Release()
		checkBatch(t, what, emitted, b, "", false)
		emitted++
		p := units[b.Unit]
		if p == nil {
			t.Errorf("%s: emitted a batch of unit %q, which no input batch had", what, b.Unit)
			return nil
		}
		p.out += b.Rows()
		if b.Position == nil {
			return nil
		}
		k := slices.IndexFunc(p.positions, func(q core.Position) bool { return bytes.Equal(q, b.Position) })
		switch {
		case k < 0:
			t.Errorf("%s: emitted Position %x for unit %s, which is none of its input positions", what, []byte(b.Position), b.Unit)
		case k < p.lastPos:
			t.Errorf("%s: emitted Position of input batch %d of unit %s after that of batch %d (positions must not go backwards)", what, k, b.Unit, p.lastPos)
		case !opts.Filter && p.out+dl.count(b.Unit) < p.through[k]:
			t.Errorf("%s: emitted Position of input batch %d of unit %s with %d rows accounted for, want at least the %d rows up to it", what, k, b.Unit, p.out+dl.count(b.Unit), p.through[k])
		}
		p.lastPos = max(p.lastPos, k)
		return nil
	}
	for i, b := range in {
		what = "Apply(batch " + strconv.Itoa(i) + ")"
		if err := tr.Apply(context.Background(), b, emit); err != nil {
			release(in[i+1:])
			t.Fatalf("%s: %v", what, err)
		}
	}
	for _, u := range unitsOf(in) {
		what = "Flush(" + u + ")"
		if err := tr.Flush(context.Background(), u, emit); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		p := units[u]
		want := p.through[len(p.through)-1]
		got := p.out + dl.count(u)
		switch {
		case opts.Filter && got > want:
			t.Errorf("unit %s: got %d rows out (%d emitted, %d dead-lettered), want at most the %d rows in", u, got, p.out, dl.count(u), want)
		case !opts.Filter && got != want:
			t.Errorf("unit %s: got %d rows out (%d emitted, %d dead-lettered), want the %d rows in", u, got, p.out, dl.count(u), want)
		}
		if p.lastPos != len(p.positions)-1 {
			t.Errorf("unit %s: after Flush, got last output position of input batch %d, want that of its last input batch %d", u, p.lastPos, len(p.positions)-1)
		}
	}
}

// unitsOf returns the units of bs in order of first appearance.
func unitsOf(bs []core.Batch) []string {
	var out []string
	for _, b := range bs {
		if !slices.Contains(out, b.Unit) {
			out = append(out, b.Unit)
		}
	}
	return out
}

// deadLetters counts rejected rows per unit.
type deadLetters struct {
	mu   sync.Mutex
	rows map[string]int64
}

func (d *deadLetters) Reject(_ context.Context, l core.DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rows[l.Unit]++
	return nil
}

func (d *deadLetters) count(unit string) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rows[unit]
}
