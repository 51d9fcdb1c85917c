package coretest

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/etl-toolkit/etl/core"
)

// checkBatch reports what is wrong with batch i of what (e.g. "Read(unit-1)"):
// columns that do not match the schema or fail Arrow's full validation, the
// wrong unit, a missing stream name, and (when needPosition) a nil position. A
// batch without a record is allowed when it has a position: it only advances
// the unit, and the runner saves its position without writing anything.
func checkBatch(t *testing.T, what string, i int, b core.Batch, unit string, needPosition bool) {
	t.Helper()
	if unit != "" && b.Unit != unit {
		t.Errorf("%s: batch %d: got Unit %q, want %q", what, i, b.Unit, unit)
	}
	if needPosition && b.Position == nil {
		t.Errorf("%s: batch %d: got nil Position, want the position after its rows", what, i)
	}
	if b.Record == nil {
		if b.Position == nil {
			t.Errorf("%s: batch %d: got neither a Record nor a Position, want at least one", what, i)
		}
		return
	}
	if b.Stream == "" {
		t.Errorf("%s: batch %d: got empty Stream, want the stream's name", what, i)
	}
	if err := validRecord(b.Record); err != nil {
		t.Errorf("%s: batch %d (stream %q): %v", what, i, b.Stream, err)
	}
}

// validRecord checks that rec's columns agree with its schema and pass Arrow's
// full validation (offsets, lengths, UTF-8).
func validRecord(rec arrow.RecordBatch) error {
	fields := rec.Schema().Fields()
	if int(rec.NumCols()) != len(fields) {
		return fmt.Errorf("record has %d columns, its schema %d fields", rec.NumCols(), len(fields))
	}
	for i, col := range rec.Columns() {
		if !arrow.TypeEqual(col.DataType(), fields[i].Type) {
			return fmt.Errorf("column %q: got type %s, schema says %s", fields[i].Name, col.DataType(), fields[i].Type)
		}
		if int64(col.Len()) != rec.NumRows() {
			return fmt.Errorf("column %q: got %d values, record has %d rows", fields[i].Name, col.Len(), rec.NumRows())
		}
		if !fields[i].Nullable && col.NullN() > 0 {
			return fmt.Errorf("column %q: got %d nulls in a non-nullable field", fields[i].Name, col.NullN())
		}
		if err := array.ValidateFull(col); err != nil {
			return fmt.Errorf("column %q: %w", fields[i].Name, err)
		}
	}
	return nil
}

// rowsEqual reports whether got holds exactly the rows of want, stream by stream
// in order, whatever the batch boundaries; it reports the first difference of
// each stream with t.Errorf, prefixed by what.
func rowsEqual(t *testing.T, what string, want, got []core.Batch) bool {
	t.Helper()
	var streams []string
	seen := map[string]bool{}
	for _, b := range append(append([]core.Batch(nil), want...), got...) {
		if b.Record != nil && !seen[b.Stream] {
			seen[b.Stream] = true
			streams = append(streams, b.Stream)
		}
	}
	ok := true
	for _, s := range streams {
		if !streamEqual(t, fmt.Sprintf("%s: stream %q", what, s), records(want, s), records(got, s)) {
			ok = false
		}
	}
	return ok
}

// records returns the non-empty records of stream s, in order.
func records(bs []core.Batch, s string) []arrow.RecordBatch {
	var out []arrow.RecordBatch
	for _, b := range bs {
		if b.Stream == s && b.Record != nil && b.Record.NumRows() > 0 {
			out = append(out, b.Record)
		}
	}
	return out
}

func countRows(recs []arrow.RecordBatch) int64 {
	var n int64
	for _, r := range recs {
		n += r.NumRows()
	}
	return n
}

// streamEqual compares two runs of records row by row, walking both in
// segments bounded by either side's batch ends, so no data is copied.
func streamEqual(t *testing.T, what string, want, got []arrow.RecordBatch) bool {
	t.Helper()
	if w, g := countRows(want), countRows(got); w != g {
		t.Errorf("%s: got %d rows, want %d", what, g, w)
		return false
	}
	var i, j int     // record index in want, got
	var wo, gO int64 // row offset within want[i], got[j]
	var row int64    // rows compared so far
	for i < len(want) && j < len(got) {
		n := min(want[i].NumRows()-wo, got[j].NumRows()-gO)
		w := want[i].NewSlice(wo, wo+n)
		g := got[j].NewSlice(gO, gO+n)
		same := segmentEqual(t, what, row, w, g)
		w.Release()
		g.Release()
		if !same {
			return false
		}
		row += n
		wo += n
		gO += n
		if wo == want[i].NumRows() {
			i, wo = i+1, 0
		}
		if gO == got[j].NumRows() {
			j, gO = j+1, 0
		}
	}
	return true
}

// segmentEqual compares two slices of equal length that start at row first of
// their stream, reporting the first differing row.
func segmentEqual(t *testing.T, what string, first int64, want, got arrow.RecordBatch) bool {
	t.Helper()
	if !want.Schema().Equal(got.Schema()) {
		t.Errorf("%s: row %d: got schema\n%s\nwant\n%s", what, first, got.Schema(), want.Schema())
		return false
	}
	if recordEqual(want, got) {
		return true
	}
	for r := range want.NumRows() {
		w := want.NewSlice(r, r+1)
		g := got.NewSlice(r, r+1)
		same := recordEqual(w, g)
		if !same {
			wj, _ := w.MarshalJSON()
			gj, _ := g.MarshalJSON()
			t.Errorf("%s: row %d: got %s, want %s", what, first+r, gj, wj)
		}
		w.Release()
		g.Release()
		if !same {
			break
		}
	}
	return false
}

// recordEqual is array.RecordEqual except that NaN equals NaN (RecordEqual's
// float comparison says NaN != NaN, which would fail any source that emits
// NaN); the zero tolerance keeps every other comparison exact.
func recordEqual(a, b arrow.RecordBatch) bool {
	return array.RecordApproxEqual(a, b, array.WithNaNsEqual(true), array.WithAbsTolerance(0))
}
