package csv

import (
	"context"
	stdcsv "encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
)

// A crash between Prepare and Commit: the next process commits the recorded
// transaction, twice even, and rows written after Prepare never show.
func TestCommitAfterCrash(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cfg := DefaultConfig()
	cfg.Path = t.TempDir()

	first, err := NewSink(cfg, mem)
	if err != nil {
		t.Fatal(err)
	}
	write(t, first, "events", "u", record(t, mem, eventSchema, events(0, 3)))
	txn, err := first.Prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	write(t, first, "events", "u", record(t, mem, eventSchema, events(3, 6))) // never prepared
	if got := committedFiles(t, cfg.Path); len(got) != 0 {
		t.Fatalf("before Commit: got visible files %v, want none", got)
	}
	// The process dies: Close is all that runs (deferred), no Commit.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second, err := NewSink(cfg, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	for range 2 {
		if err := second.Commit(context.Background(), txn); err != nil {
			t.Fatal(err)
		}
	}
	want := "== stream=events/part-TIME-TOKEN-000001.csv\n" +
		"id,ts,user,value\n" +
		"0,2026-11-21T23:59:57.500Z,ann,0\n" +
		"1,2026-11-21T23:59:58.500Z,bob/b,1.5\n" +
		"2,2026-11-21T23:59:59.500Z,,3\n"
	if got := dump(t, cfg.Path, ','); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if got := second.Committed(); got != 1 {
		t.Errorf("Committed: got %d, want 1", got)
	}
	entries, err := os.ReadDir(filepath.Join(cfg.Path, "stream=events"))
	if err != nil || len(entries) != 1 {
		t.Errorf("got %v (%v) in the partition, want the committed file alone: no temp file left", entries, err)
	}
}

func TestConformance(t *testing.T) {
	coretest.Sink(t, func(t *testing.T, mem memory.Allocator) core.Sink {
		cfg := DefaultConfig()
		cfg.Path = t.TempDir()
		cfg.Null = `\N`
		s, err := NewSink(cfg, mem)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, coretest.SinkOptions{Verify: verifySample})
}

// verifySample reads back the committed CSV files and compares every cell
// with the committed records of coretest.SampleSchema, parsing each value
// back to its type.
func verifySample(t *testing.T, sink core.Sink, committed []arrow.RecordBatch) {
	t.Helper()
	root := sinkRoot(sink)
	var rows [][]string
	for _, rel := range committedFiles(t, root) {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := stdcsv.NewReader(strings.NewReader(string(data))).ReadAll()
		if err != nil {
			t.Fatalf("reread %s: %v", rel, err)
		}
		if got, want := strings.Join(recs[0], ","), "unit,id,ts,value,label,ok,samples"; got != want {
			t.Errorf("%s header: got %s, want %s", rel, got, want)
		}
		rows = append(rows, recs[1:]...)
	}
	n := 0
	for _, rec := range committed {
		n += int(rec.NumRows())
	}
	if len(rows) != n {
		t.Fatalf("got %d rows, want %d", len(rows), n)
	}
	r := 0
	for _, rec := range committed {
		unit := rec.Column(0).(*array.String)
		id := rec.Column(1).(*array.Int64)
		ts := rec.Column(2).(*array.Timestamp)
		value := rec.Column(3).(*array.Float64)
		label := rec.Column(4).(*array.String)
		ok := rec.Column(5).(*array.Boolean)
		samples := rec.Column(6).(*array.List)
		for i := 0; i < int(rec.NumRows()); i, r = i+1, r+1 {
			row := rows[r]
			check := func(col int, good bool) {
				if !good {
					t.Errorf("row %d column %s: got %q, wrong", r, rec.ColumnName(col), row[col])
				}
			}
			check(0, row[0] == unit.Value(i))
			check(1, row[1] == strconv.FormatInt(id.Value(i), 10))
			at, err := time.Parse(time.RFC3339Nano, row[2])
			check(2, err == nil && at.UnixMilli() == int64(ts.Value(i)))
			if value.IsNull(i) {
				check(3, row[3] == `\N`)
			} else {
				v, err := strconv.ParseFloat(row[3], 64)
				check(3, err == nil && v == value.Value(i))
			}
			if label.IsNull(i) {
				check(4, row[4] == `\N`)
			} else {
				check(4, row[4] == label.Value(i))
			}
			check(5, row[5] == strconv.FormatBool(ok.Value(i)))
			if samples.IsNull(i) {
				check(6, row[6] == `\N`)
			} else {
				var got []float64
				err := json.Unmarshal([]byte(row[6]), &got)
				start, end := samples.ValueOffsets(i)
				vals := samples.ListValues().(*array.Float64).Float64Values()[start:end]
				good := err == nil && len(got) == len(vals)
				for k := range vals {
					good = good && (got[k] == vals[k] || math.IsNaN(got[k]) && math.IsNaN(vals[k]))
				}
				check(6, good)
			}
		}
	}
}

func sinkRoot(s core.Sink) string {
	return s.(interface{ Root() string }).Root()
}
