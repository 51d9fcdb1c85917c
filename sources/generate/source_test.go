package generate

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
)

// allColumns has one column of every type, some with nulls.
var allColumns = []Column{
	{Name: "id", Type: "index"},
	{Name: "i64", Type: "int64", Nulls: 0.2},
	{Name: "i32", Type: "int32", Unit: "bpm"},
	{Name: "f64", Type: "float64", Unit: "m", Nulls: 0.5},
	{Name: "f32", Type: "float32", Unit: "km/h"},
	{Name: "flag", Type: "bool", Nulls: 0.1},
	{Name: "label", Type: "string", Nulls: 0.3},
	{Name: "ts", Type: "timestamp_ms"},
	{Name: "ts_us", Type: "timestamp_us", Nulls: 0.05},
	{Name: "day", Type: "date"},
	{Name: "samples", Type: "list_float64", Unit: "m/s", Nulls: 0.25},
	{Name: "pair", Type: "struct", Nulls: 0.4},
	{Name: "gone", Type: "float64", Nulls: 1},
}

func mustSource(t testing.TB, cfg Config, mem memory.Allocator) *Source {
	t.Helper()
	src, err := NewSource(cfg, mem)
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	return src
}

func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
		opts coretest.SourceOptions
	}{
		{"defaults", func(c *Config) { c.Units, c.Rows, c.BatchSize = 3, 1000, 128 }, coretest.SourceOptions{}},
		{"all-types", func(c *Config) { c.Rows, c.BatchSize, c.Columns = 700, 100, allColumns }, coretest.SourceOptions{}},
		{"one-batch", func(c *Config) { c.Rows = 10 }, coretest.SourceOptions{}},
		{"endless", func(c *Config) { c.Endless, c.Rows, c.BatchSize = true, 0, 50 }, coretest.SourceOptions{Live: true}},
		{"rate-limited", func(c *Config) { c.Endless, c.Rate, c.Columns = true, 2000, allColumns }, coretest.SourceOptions{Live: true, Batches: 4, Resumes: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.cfg(&cfg)
			coretest.Source(t, func(t *testing.T, mem memory.Allocator) core.Source {
				return mustSource(t, cfg, mem)
			}, tt.opts)
		})
	}
}

// readAll reads unit u from from to its end.
func readAll(t *testing.T, src *Source, u string, from core.Position) []core.Batch {
	t.Helper()
	var out []core.Batch
	err := src.Read(context.Background(), u, from, func(_ context.Context, b core.Batch) error {
		out = append(out, b)
		return nil
	})
	if err != nil {
		t.Fatalf("Read(%s, %x): %v", u, []byte(from), err)
	}
	return out
}

func releaseAll(bs []core.Batch) {
	for _, b := range bs {
		b.Release()
	}
}

// concat joins the batches' records into one and releases the batches.
func concat(t *testing.T, mem memory.Allocator, bs []core.Batch) arrow.RecordBatch {
	t.Helper()
	defer releaseAll(bs)
	recs := make([]arrow.RecordBatch, len(bs))
	for i, b := range bs {
		recs[i] = b.Record
	}
	tbl := array.NewTableFromRecords(bs[0].Record.Schema(), recs)
	defer tbl.Release()
	cols := make([]arrow.Array, tbl.NumCols())
	for i := range cols {
		arr, err := array.Concatenate(tbl.Column(i).Data().Chunks(), mem)
		if err != nil {
			t.Fatalf("Concatenate: %v", err)
		}
		defer arr.Release()
		cols[i] = arr
	}
	return array.NewRecordBatch(tbl.Schema(), cols, tbl.NumRows())
}

func TestDeterminism(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cfg := DefaultConfig()
	cfg.Units, cfg.Rows, cfg.BatchSize, cfg.Columns = 2, 1000, 64, allColumns

	full := concat(t, mem, readAll(t, mustSource(t, cfg, mem), "unit-0002", nil))
	defer full.Release()
	// A second source with the same config and a different batch size.
	cfg.BatchSize = 333
	again := mustSource(t, cfg, mem)
	second := concat(t, mem, readAll(t, again, "unit-0002", nil))
	if !array.RecordEqual(full, second) {
		t.Errorf("second run: rows differ from the first run")
	}
	second.Release()

	for _, from := range []int64{0, 1, 63, 64, 500, 999, 1000, 5000} {
		t.Run(fmt.Sprint(from), func(t *testing.T) {
			pos := binary.BigEndian.AppendUint64(nil, uint64(from))
			tail := readAll(t, again, "unit-0002", pos)
			if from >= cfg.Rows {
				if len(tail) != 0 {
					releaseAll(tail)
					t.Fatalf("Read from %d past the end: got %d batches, want none", from, len(tail))
				}
				return
			}
			last := tail[len(tail)-1].Position
			got := concat(t, mem, tail)
			defer got.Release()
			want := full.NewSlice(from, cfg.Rows)
			defer want.Release()
			if !array.RecordEqual(got, want) {
				t.Errorf("Read from %d: rows differ from the tail of a full run", from)
			}
			if binary.BigEndian.Uint64(last) != uint64(cfg.Rows) {
				t.Errorf("last Position: got %x, want %d", []byte(last), cfg.Rows)
			}
		})
	}

	// Another seed or unit gives other values.
	for _, tc := range []struct {
		name string
		seed int64
		unit string
	}{{"seed", 2, "unit-0002"}, {"unit", 1, "unit-0001"}} {
		cfg.Seed = tc.seed
		other := concat(t, mem, readAll(t, mustSource(t, cfg, mem), tc.unit, nil))
		if array.Equal(other.Column(4), full.Column(4)) {
			t.Errorf("other %s: got the same f64 column, want different values", tc.name)
		}
		other.Release()
	}
}

func TestColumnsIndependent(t *testing.T) {
	// A column's values depend on its name, not on its place or neighbours.
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cfg := DefaultConfig()
	cfg.Rows = 100
	a := concat(t, mem, readAll(t, mustSource(t, cfg, mem), "unit-0001", nil))
	defer a.Release()
	cfg.Columns = []Column{{Name: "label", Type: "string"}, {Name: "extra", Type: "int64"}, {Name: "value", Type: "float64", Unit: "m"}}
	b := concat(t, mem, readAll(t, mustSource(t, cfg, mem), "unit-0001", nil))
	defer b.Release()
	for _, c := range []struct{ a, b int }{{4, 1}, {3, 3}} {
		if !array.Equal(a.Column(c.a), b.Column(c.b)) {
			t.Errorf("column %q: values changed when the other columns changed", a.ColumnName(c.a))
		}
	}
}

func TestSchema(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cfg := DefaultConfig()
	cfg.Rows = 3
	src := mustSource(t, cfg, mem)
	want := arrow.NewSchema([]arrow.Field{
		{Name: "unit", Type: arrow.BinaryTypes.String},
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
		{Name: "value", Type: arrow.PrimitiveTypes.Float64, Metadata: arrow.NewMetadata([]string{"unit"}, []string{"m"})},
		{Name: "label", Type: arrow.BinaryTypes.String},
	}, nil)
	bs := readAll(t, src, "unit-0001", nil)
	defer releaseAll(bs)
	if got := bs[0].Record.Schema(); !got.Equal(want) {
		t.Errorf("schema: got\n%s\nwant\n%s", got, want)
	}
	if got, want := bs[0].Stream, "generate"; got != want {
		t.Errorf("Stream: got %q, want %q", got, want)
	}
	rec := bs[0].Record
	for i, want := range []string{"unit-0001", "unit-0001", "unit-0001"} {
		if got := rec.Column(0).(*array.String).Value(i); got != want {
			t.Errorf("unit[%d]: got %q, want %q", i, got, want)
		}
		if got := rec.Column(1).(*array.Int64).Value(i); got != int64(i) {
			t.Errorf("id[%d]: got %d, want %d", i, got, i)
		}
		ts := rec.Column(2).(*array.Timestamp).Value(i).ToTime(arrow.Millisecond)
		lo := time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)
		if ts.Before(lo) || !ts.Before(lo.Add(time.Second)) {
			t.Errorf("ts[%d]: got %s, want within the second from %s", i, ts, lo)
		}
	}

	// Every column of every type carries its unit and passes full validation.
	cfg.Columns = allColumns
	all := readAll(t, mustSource(t, cfg, mem), "unit-0001", nil)
	defer releaseAll(all)
	fields := all[0].Record.Schema().Fields()
	for i, c := range allColumns {
		f := fields[i+1]
		got, _ := f.Metadata.GetValue("unit")
		if got != c.Unit {
			t.Errorf("column %q: got unit %q in metadata, want %q", c.Name, got, c.Unit)
		}
		if got, want := f.Nullable, c.Nulls > 0; got != want {
			t.Errorf("column %q: got Nullable %v, want %v", c.Name, got, want)
		}
		if err := array.ValidateFull(all[0].Record.Column(i + 1)); err != nil {
			t.Errorf("column %q: %v", c.Name, err)
		}
	}
}

func TestNulls(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cfg := DefaultConfig()
	cfg.Rows, cfg.BatchSize, cfg.Columns = 20000, 4096, allColumns
	rec := concat(t, mem, readAll(t, mustSource(t, cfg, mem), "unit-0001", nil))
	defer rec.Release()
	for i, c := range allColumns {
		got := float64(rec.Column(i+1).NullN()) / float64(rec.NumRows())
		// 20000 draws: the standard deviation is at most 0.0036, so 0.02 is
		// more than five of them.
		if math.Abs(got-c.Nulls) > 0.02 {
			t.Errorf("column %q: got %.3f nulls, want %.3f +- 0.02", c.Name, got, c.Nulls)
		}
	}
	// Null lists and strings hold no values.
	samples := rec.Column(11).(*array.List)
	for i := range samples.Len() {
		if start, end := samples.ValueOffsets(i); samples.IsNull(i) && start != end {
			t.Fatalf("samples[%d]: null but holds %d values", i, end-start)
		}
	}
}

func TestRate(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cfg := DefaultConfig()
	cfg.Rows, cfg.Rate = 300, 1000
	src := mustSource(t, cfg, mem)
	start := time.Now()
	bs := readAll(t, src, "unit-0001", nil)
	elapsed := time.Since(start)
	defer releaseAll(bs)
	// Batches of a tenth of a second (100 rows); the first comes at once, the
	// other 200 rows take 0.2s at 1000 rows/s.
	if got, want := len(bs), 3; got != want {
		t.Errorf("batches: got %d, want %d of 100 rows", got, want)
	}
	if elapsed < 180*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("300 rows at 1000 rows/s: took %s, want about 200ms", elapsed)
	}
}

func TestReadCancelledWhileRateLimited(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cfg := DefaultConfig()
	cfg.Rows, cfg.Rate = 100, 1 // the second row is a second away
	src := mustSource(t, cfg, mem)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	var mu sync.Mutex
	var got []core.Batch
	err := src.Read(ctx, "unit-0001", nil, func(_ context.Context, b core.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, b)
		return nil
	})
	defer releaseAll(got)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Read: got error %v, want one wrapping context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Read: returned after %s, want soon after the 50ms deadline", elapsed)
	}
	if len(got) != 1 {
		t.Errorf("batches: got %d, want 1", len(got))
	}
}

func TestReadErrors(t *testing.T) {
	src := mustSource(t, DefaultConfig(), nil)
	emit := func(_ context.Context, b core.Batch) error { b.Release(); return nil }
	tests := []struct {
		name, unit string
		from       core.Position
		want       string
	}{
		{"unknown unit", "unit-0002", nil, `generate: unknown unit "unit-0002" (want unit-0001 to unit-0001)`},
		{"bad position", "unit-0001", core.Position("12"), "generate: unit unit-0001: bad position 3132 (want the 8-byte big-endian index of the next row)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := src.Read(context.Background(), tt.unit, tt.from, emit)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Read: got error %v, want %s", err, tt.want)
			}
		})
	}
}

func TestUnits(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Units = 12
	units, err := mustSource(t, cfg, nil).Units(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(units[:2], ",")+"..."+units[11], "unit-0001,unit-0002...unit-0012"; got != want {
		t.Errorf("Units: got %s, want %s", got, want)
	}
}

func TestRegistered(t *testing.T) {
	f, ok := core.LookupSource("generate")
	if !ok {
		t.Fatal(`LookupSource("generate"): not registered`)
	}
	if _, ok := f.Options.(Config); !ok {
		t.Errorf("Options: got %T, want generate.Config", f.Options)
	}
	src, err := f.New(context.Background(), core.Env{})
	if err != nil {
		t.Fatalf("New with an empty config: %v", err)
	}
	if got := src.(*Source).cfg; got.Rows != 1000 || got.BatchSize != 65536 || len(got.Columns) != 4 {
		t.Errorf("New with an empty config: got %+v, want the defaults", got)
	}
}

// BenchmarkRead measures generation of the default columns, the runner's
// benchmark workload; it reports rows/s.
func BenchmarkRead(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Rows = 1 << 20
	src := mustSource(b, cfg, memory.NewGoAllocator())
	emit := func(_ context.Context, bt core.Batch) error { bt.Release(); return nil }
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := src.Read(context.Background(), "unit-0001", nil, emit); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cfg.Rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// TestGolden pins the generated values: a change to them would make positions
// saved by an older build resume into different rows. Regenerate with
// go test ./sources/generate -update, on purpose only.
func TestGolden(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cfg := DefaultConfig()
	cfg.Seed, cfg.Units, cfg.Rows, cfg.Columns = 42, 2, 100_000, allColumns
	src := mustSource(t, cfg, mem)
	var b strings.Builder
	for _, u := range []string{"unit-0001", "unit-0002"} {
		for _, from := range []uint64{0, 86_398, 99_997} {
			bs := readAll(t, src, u, binary.BigEndian.AppendUint64(nil, from))
			rows := bs[0].Record.NewSlice(0, 3)
			releaseAll(bs)
			js, err := rows.MarshalJSON()
			rows.Release()
			if err != nil {
				t.Fatal(err)
			}
			var lines []json.RawMessage
			if err := json.Unmarshal(js, &lines); err != nil {
				t.Fatal(err)
			}
			for _, l := range lines {
				b.Write(l)
				b.WriteByte('\n')
			}
		}
	}
	path := filepath.Join("testdata", "rows.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("rows differ from %s:\ngot\n%s\nwant\n%s", path, got, want)
	}
}
