package coretest_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
	"github.com/etl-toolkit/etl/sources/generate"
)

// The components below are small correct ones, for the suites to pass, and
// deliberately broken variants (selected by mode) that the suites must fail.

// newGenerate returns a small generate source on mem.
func newGenerate(t *testing.T, mem memory.Allocator, endless bool) *generate.Source {
	t.Helper()
	cfg := generate.DefaultConfig()
	cfg.Units, cfg.Rows, cfg.BatchSize, cfg.Endless = 2, 300, 64, endless
	src, err := generate.NewSource(cfg, mem)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// brokenSource breaks the generate source in one way.
type brokenSource struct {
	*generate.Source
	mode  string
	mu    sync.Mutex
	calls int
}

func (s *brokenSource) Units(ctx context.Context) ([]string, error) {
	units, err := s.Source.Units(ctx)
	if s.mode == "unstable-units" {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.calls++
		if s.calls%2 == 0 {
			slices.Reverse(units)
		}
	}
	return units, err
}

func (s *brokenSource) Read(ctx context.Context, unit string, from core.Position, emit core.Emit) error {
	switch s.mode {
	case "resume-off-by-one":
		if from != nil {
			// Resumes one row early, so a row is emitted twice.
			from = binary.BigEndian.AppendUint64(nil, binary.BigEndian.Uint64(from)-1)
		}
	case "ignores-cancel":
		return s.Source.Read(context.Background(), unit, from, func(_ context.Context, b core.Batch) error {
			_ = emit(ctx, b)
			time.Sleep(time.Millisecond)
			return nil
		})
	case "leaks":
		return s.Source.Read(ctx, unit, from, func(ctx context.Context, b core.Batch) error {
			b.Record.Retain() // never released
			return emit(ctx, b)
		})
	case "ignores-emit-error":
		return s.Source.Read(ctx, unit, from, func(ctx context.Context, b core.Batch) error {
			_ = emit(ctx, b)
			return nil
		})
	case "nil-position":
		return s.Source.Read(ctx, unit, from, func(ctx context.Context, b core.Batch) error {
			b.Position = nil
			return emit(ctx, b)
		})
	}
	return s.Source.Read(ctx, unit, from, emit)
}

// memDest is what a memSink made visible: rows as JSON, in order.
type memDest struct {
	mu   sync.Mutex
	rows []string
}

func (d *memDest) add(recs ...arrow.RecordBatch) {
	rows := jsonRows(recs...)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rows = append(d.rows, rows...)
}

func jsonRows(recs ...arrow.RecordBatch) []string {
	var out []string
	for _, r := range recs {
		b, err := r.MarshalJSON()
		if err != nil {
			panic(err)
		}
		var rows []json.RawMessage
		if err := json.Unmarshal(b, &rows); err != nil {
			panic(err)
		}
		for _, row := range rows {
			out = append(out, string(row))
		}
	}
	return out
}

// memSink keeps records in memory under the two-phase commit; "visible" rows
// go to its memDest. Broken modes: no-retain, commit-not-idempotent,
// visible-on-write, leak-on-close, hang-when-cancelled.
type memSink struct {
	mode      string
	dest      *memDest
	pending   []arrow.RecordBatch
	prepared  map[string][]arrow.RecordBatch
	committed map[string]bool
	seq       int
}

func newMemSink(mode string) *memSink {
	return &memSink{mode: mode, dest: &memDest{}, prepared: map[string][]arrow.RecordBatch{}, committed: map[string]bool{}}
}

func (s *memSink) Write(ctx context.Context, b core.Batch) error {
	switch {
	case s.mode == "hang-when-cancelled" && ctx.Err() != nil:
		select {}
	case s.mode == "visible-on-write":
		s.dest.add(b.Record)
		return nil
	case s.mode != "no-retain":
		b.Record.Retain()
	}
	s.pending = append(s.pending, b.Record)
	return nil
}

func (s *memSink) Prepare(context.Context) ([]byte, error) {
	if len(s.pending) == 0 {
		return nil, nil
	}
	s.seq++
	txn := fmt.Sprintf("txn-%d", s.seq)
	s.prepared[txn] = s.pending
	s.pending = nil
	return []byte(txn), nil
}

func (s *memSink) Commit(_ context.Context, txn []byte) error {
	recs, ok := s.prepared[string(txn)]
	if !ok {
		if s.committed[string(txn)] {
			return nil
		}
		return fmt.Errorf("memsink: unknown transaction %q", txn)
	}
	s.dest.add(recs...)
	if s.mode == "commit-not-idempotent" {
		return nil // keeps the transaction, so a second Commit adds the rows again
	}
	delete(s.prepared, string(txn))
	s.committed[string(txn)] = true
	s.release(recs)
	return nil
}

func (s *memSink) Close() error {
	if s.mode != "leak-on-close" {
		s.release(s.pending)
	}
	for _, recs := range s.prepared {
		s.release(recs)
	}
	s.pending, s.prepared = nil, nil
	return nil
}

func (s *memSink) release(recs []arrow.RecordBatch) {
	if s.mode == "no-retain" {
		return
	}
	for _, r := range recs {
		r.Release()
	}
}

// verifyMemSink is the memSink's SinkOptions.Verify.
func verifyMemSink(t *testing.T, s core.Sink, committed []arrow.RecordBatch) {
	t.Helper()
	got := s.(*memSink).dest.rows
	want := jsonRows(committed...)
	if !slices.Equal(got, want) {
		t.Errorf("visible rows: got %d rows, want %d (first got %.80q, first want %.80q)", len(got), len(want), first(got), first(want))
	}
}

func first(rows []string) string {
	if len(rows) == 0 {
		return ""
	}
	return rows[0]
}

// memTransform passes batches through ("pass"), holds every batch until Flush
// ("hold"), or dead-letters the rows of every second batch of a unit, emitting
// only its position ("reject"). Broken modes (on top of hold): lose-on-flush,
// early-position, leak-on-close.
type memTransform struct {
	mode string
	dl   core.DeadLetters
	held map[string][]core.Batch
	seen map[string]int
}

func newMemTransform(mode string, dl core.DeadLetters) *memTransform {
	return &memTransform{mode: mode, dl: dl, held: map[string][]core.Batch{}, seen: map[string]int{}}
}

func (m *memTransform) Apply(ctx context.Context, in core.Batch, emit core.Emit) error {
	switch m.mode {
	case "pass":
		return emit(ctx, in)
	case "reject":
		m.seen[in.Unit]++
		if m.seen[in.Unit]%2 == 1 {
			return emit(ctx, in)
		}
		defer in.Release()
		for i := range in.Rows() {
			if err := m.dl.Reject(ctx, core.DeadLetter{Stream: in.Stream, Unit: in.Unit, Component: "test", Reason: fmt.Sprintf("row %d", i)}); err != nil {
				return err
			}
		}
		return emit(ctx, core.Batch{Stream: in.Stream, Unit: in.Unit, Position: in.Position})
	}
	m.held[in.Unit] = append(m.held[in.Unit], in)
	if m.mode == "early-position" {
		return emit(ctx, core.Batch{Stream: in.Stream, Unit: in.Unit, Position: in.Position})
	}
	return nil
}

func (m *memTransform) Flush(ctx context.Context, unit string, emit core.Emit) error {
	held := m.held[unit]
	delete(m.held, unit)
	for i, b := range held {
		if m.mode == "lose-on-flush" && i == len(held)-1 {
			b.Release()
			continue
		}
		if err := emit(ctx, b); err != nil {
			for _, rest := range held[i+1:] {
				rest.Release()
			}
			return fmt.Errorf("memtransform: %w", err)
		}
	}
	return nil
}

func (m *memTransform) Close() error {
	if m.mode != "leak-on-close" {
		for _, held := range m.held {
			for _, b := range held {
				b.Release()
			}
		}
	}
	m.held = nil
	return nil
}

// transformInput interleaves three batches of unit-a with two of unit-b.
func transformInput(mem memory.Allocator) []core.Batch {
	a := coretest.SampleBatches(mem, "unit-a", 3, 40)
	b := coretest.SampleBatches(mem, "unit-b", 2, 25)
	return []core.Batch{a[0], b[0], a[1], b[1], a[2]}
}
