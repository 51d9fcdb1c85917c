package parquet

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
	"github.com/etl-toolkit/etl/internal/duckdbtest"
	"github.com/etl-toolkit/etl/sinks/files"
)

func TestConformance(t *testing.T) {
	coretest.Sink(t, func(t *testing.T, mem memory.Allocator) core.Sink {
		cfg := DefaultConfig()
		cfg.Path = t.TempDir()
		s, err := NewSink(cfg, mem)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, coretest.SinkOptions{Verify: verifyCommitted})
}

// verifyCommitted reads every committed file back with pqarrow, in file name
// order (the order they were opened), and compares the rows with committed.
func verifyCommitted(t *testing.T, sink core.Sink, committed []arrow.RecordBatch) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	root := sink.(*files.Sink).Root()
	var got []string
	for _, rel := range committedFiles(t, root) {
		tbl := readArrow(t, filepath.Join(root, rel), mem)
		tr := array.NewTableReader(tbl, 1<<20)
		for tr.Next() {
			got = append(got, rowsJSON(t, tr.RecordBatch())...)
		}
		tr.Release()
		tbl.Release()
	}
	var want []string
	for _, r := range committed {
		want = append(want, rowsJSON(t, r)...)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d committed rows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: got %s, want %s", i, got[i], want[i])
		}
	}
}

// rowsJSON renders each row of rec as a JSON list of its values.
func rowsJSON(t *testing.T, rec arrow.RecordBatch) []string {
	t.Helper()
	out := make([]string, rec.NumRows())
	for i := range out {
		row := make([]any, rec.NumCols())
		for c, col := range rec.Columns() {
			row[c] = col.GetOneForMarshal(i)
		}
		b, err := json.Marshal(row)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	return out
}

// committedFiles lists the visible files under root, relative and sorted.
func committedFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		rel, err := filepath.Rel(root, p)
		out = append(out, filepath.ToSlash(rel))
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// tempFiles lists the hidden temp files under root.
func tempFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), ".") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

var (
	stepsSchema = arrow.NewSchema([]arrow.Field{
		{Name: "user", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
		{Name: "steps", Type: arrow.PrimitiveTypes.Int64, Metadata: unit("1")},
	}, nil)
	speedSchema = arrow.NewSchema([]arrow.Field{
		{Name: "device", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "speed", Type: arrow.PrimitiveTypes.Float64, Nullable: true, Metadata: unit("m/s")},
		{Name: "hr", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
	}, nil)
)

// stepsBatch has n rows of user u, an hour apart from start.
func stepsBatch(t *testing.T, mem memory.Allocator, u string, start time.Time, n int) core.Batch {
	t.Helper()
	b := array.NewRecordBuilder(mem, stepsSchema)
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.StringBuilder).Append(u)
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(start.Add(time.Duration(i) * time.Hour).UnixMilli()))
		b.Field(2).(*array.Int64Builder).Append(int64(100 * (i + 1)))
	}
	return core.Batch{Stream: "azumio.checkins.steps", Unit: "user/" + u, Record: b.NewRecordBatch()}
}

// speedBatch has n rows of device d, ten minutes apart from start.
func speedBatch(t *testing.T, mem memory.Allocator, d string, start time.Time, n int) core.Batch {
	t.Helper()
	b := array.NewRecordBuilder(mem, speedSchema)
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.StringBuilder).Append(d)
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(start.Add(time.Duration(i) * 10 * time.Minute).UnixMicro()))
		if i%4 == 3 {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.Float64Builder).Append(float64(i) / 2)
		}
		lb := b.Field(3).(*array.ListBuilder)
		lb.Append(true)
		lb.ValueBuilder().(*array.Int32Builder).AppendValues([]int32{int32(100 + i), int32(101 + i)}, nil)
		lb.ValueBuilder().AppendNull()
	}
	return core.Batch{Stream: "asi.computed", Unit: "device/" + d, Record: b.NewRecordBatch()}
}

func write(t *testing.T, s core.Sink, b core.Batch) {
	t.Helper()
	defer b.Release()
	if err := s.Write(context.Background(), b); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func prepareAndCommit(t *testing.T, s core.Sink) {
	t.Helper()
	txn, err := s.Prepare(context.Background())
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if err := s.Commit(context.Background(), txn); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func TestPartitionedTreeWithDuckDB(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	cfg := DefaultConfig()
	cfg.Path = t.TempDir()
	cfg.PartitionBy = []string{"stream", "date"}
	s, err := NewSink(cfg, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// Two streams of different schemas, each spanning two days.
	day := time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC)
	write(t, s, stepsBatch(t, mem, "ana", day, 6)) // 20:00..01:00: 4 rows on the 21st, 2 on the 22nd
	write(t, s, stepsBatch(t, mem, "bo", day, 2))  // 2 rows on the 21st
	write(t, s, speedBatch(t, mem, "d1", day, 30)) // 20:00..00:50: 24 rows on the 21st, 6 on the 22nd
	prepareAndCommit(t, s)

	glob := duckdbtest.Literal(filepath.Join(cfg.Path, "**", "*.parquet"))
	tree := "read_parquet(" + glob + ", hive_partitioning = true, union_by_name = true)"
	got := duckdbtest.Query(t, "SELECT stream, date::VARCHAR AS date, typeof(date) AS date_type, count(*) AS n FROM "+tree+
		" GROUP BY ALL ORDER BY ALL")
	want := []map[string]any{
		{"stream": "asi.computed", "date": "2026-11-21", "date_type": "DATE", "n": int64(24)},
		{"stream": "asi.computed", "date": "2026-11-22", "date_type": "DATE", "n": int64(6)},
		{"stream": "azumio.checkins.steps", "date": "2026-11-21", "date_type": "DATE", "n": int64(6)},
		{"stream": "azumio.checkins.steps", "date": "2026-11-22", "date_type": "DATE", "n": int64(2)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("duckdb over the tree:\ngot  %v\nwant %v", got, want)
	}

	// One stream's files hold its own columns, with instants in UTC.
	steps := "read_parquet(" + duckdbtest.Literal(filepath.Join(cfg.Path, "stream=azumio.checkins.steps", "**", "*.parquet")) + ", hive_partitioning = true)"
	got = duckdbtest.Query(t, "SELECT user, ts, typeof(ts) AS ts_type, steps, date::VARCHAR AS date FROM "+steps+" ORDER BY ts, user LIMIT 2")
	want = []map[string]any{
		{"user": "ana", "ts": "2026-11-21T20:00:00Z", "ts_type": "TIMESTAMP WITH TIME ZONE", "steps": int64(100), "date": "2026-11-21"},
		{"user": "bo", "ts": "2026-11-21T20:00:00Z", "ts_type": "TIMESTAMP WITH TIME ZONE", "steps": int64(100), "date": "2026-11-21"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("duckdb over one stream:\ngot  %v\nwant %v", got, want)
	}
	speed := "read_parquet(" + duckdbtest.Literal(filepath.Join(cfg.Path, "stream=asi.computed", "**", "*.parquet")) + ")"
	got = duckdbtest.Query(t, "SELECT hr, speed FROM "+speed+" ORDER BY ts LIMIT 1 OFFSET 3")
	want = []map[string]any{{"hr": []any{int64(103), int64(104), nil}, "speed": nil}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("duckdb lists and nulls:\ngot  %v\nwant %v", got, want)
	}

	// Rows written and prepared but not committed stay invisible; then
	// Commit shows them.
	write(t, s, stepsBatch(t, mem, "cy", day, 1))
	txn, err := s.Prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	count := func() int64 {
		return duckdbtest.Query(t, "SELECT count(*) AS n FROM "+tree)[0]["n"].(int64)
	}
	if n := count(); n != 38 {
		t.Errorf("prepared, not committed: got %d rows, want 38", n)
	}
	if len(tempFiles(t, cfg.Path)) != 1 {
		t.Errorf("got temp files %v, want one", tempFiles(t, cfg.Path))
	}
	if err := s.Commit(context.Background(), txn); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 39 {
		t.Errorf("committed: got %d rows, want 39", n)
	}
	if got := s.Committed(); got != 5 {
		t.Errorf("got %d committed files, want 5", got)
	}

	// The run summary's query works on the tree as it is.
	where, query := s.Location()
	if where != cfg.Path {
		t.Errorf("Location: got %q, want %q", where, cfg.Path)
	}
	if rows := duckdbtest.Query(t, query); len(rows) != 10 {
		t.Errorf("Location query %s: got %d rows, want 10", query, len(rows))
	}
}

func TestSinkRollsFiles(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	cfg := DefaultConfig()
	cfg.Path = t.TempDir()
	cfg.Roll = files.Roll{Rows: 10}
	s, err := NewSink(cfg, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		write(t, s, stepsBatch(t, mem, fmt.Sprintf("u%d", i), start, 6))
		// A file rolls once it holds 10 rows: after every second batch.
		if got, want := s.CommitWanted(), i%2 == 1; got != want {
			t.Errorf("after batch %d: got CommitWanted %v, want %v", i, got, want)
		}
		if s.CommitWanted() {
			prepareAndCommit(t, s)
		}
	}
	prepareAndCommit(t, s)
	names := committedFiles(t, cfg.Path)
	if len(names) != 3 {
		t.Fatalf("got files %v, want 3", names)
	}
	var rows []int64
	for _, n := range names {
		rows = append(rows, fileMeta(t, filepath.Join(cfg.Path, n)).NumRows())
	}
	if want := []int64{12, 12, 6}; !reflect.DeepEqual(rows, want) {
		t.Errorf("got files of %v rows, want %v", rows, want)
	}
}

func TestSinkRejectsUnsupportedSchema(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	cfg := DefaultConfig()
	cfg.Path = t.TempDir()
	s, err := NewSink(cfg, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	schema := arrow.NewSchema([]arrow.Field{{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.BinaryTypes.String)}}, nil)
	arr := arrayFromJSON(t, mem, schema.Field(0).Type, `[[{"key": "a", "value": "b"}]]`)
	rec := array.NewRecordBatch(schema, []arrow.Array{arr}, 1)
	arr.Release()
	err = s.Write(context.Background(), core.Batch{Stream: "x", Unit: "u", Record: rec})
	rec.Release()
	if err == nil || !strings.Contains(err.Error(), "column m: unsupported Arrow type map") {
		t.Errorf("got %v, want an error naming column m", err)
	}
	if got := committedFiles(t, cfg.Path); len(got) != 0 {
		t.Errorf("got files %v, want none", got)
	}
}

func TestSinkRollsBySize(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	cfg := DefaultConfig()
	cfg.Path = t.TempDir()
	cfg.Compression = "none"
	cfg.Roll = files.Roll{Bytes: 256 << 10} // row groups are 64 MiB by default
	s, err := NewSink(cfg, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rolls := 0
	for i := range 20 {
		b := manyRows(t, mem, i*5000, 5000) // about 100 KiB each
		write(t, s, core.Batch{Stream: "many", Unit: "u", Record: b})
		if s.CommitWanted() {
			rolls++
			prepareAndCommit(t, s)
		}
	}
	prepareAndCommit(t, s)
	names := committedFiles(t, cfg.Path)
	if rolls < 4 || len(names) < rolls || len(names) > rolls+1 {
		t.Fatalf("got %d rolls and files %v, want at least 4 rolls of 256 KiB out of ~2 MB", rolls, names)
	}
	var rows int64
	for i, n := range names {
		fi, err := os.Stat(filepath.Join(cfg.Path, n))
		if err != nil {
			t.Fatal(err)
		}
		// A file closes after the batch that brings it past roll.bytes.
		if i < rolls && (fi.Size() < 256<<10 || fi.Size() > 512<<10) {
			t.Errorf("%s: got %d bytes, want 256 to 512 KiB", n, fi.Size())
		}
		rows += fileMeta(t, filepath.Join(cfg.Path, n)).NumRows()
	}
	if rows != 100000 {
		t.Errorf("got %d rows in all files, want 100000", rows)
	}
}
