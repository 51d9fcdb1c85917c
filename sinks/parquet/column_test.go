package parquet

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/etl-toolkit/etl/internal/duckdbtest"
)

// chunkStats returns the statistics of every column chunk of row group 0, by
// dotted path, as written in the footer.
func chunkStats(t *testing.T, path string) map[string]format.Statistics {
	t.Helper()
	out := map[string]format.Statistics{}
	for _, c := range openParquetGo(t, path).Metadata().RowGroups[0].Columns {
		out[strings.Join(c.MetaData.PathInSchema, ".")] = c.MetaData.Statistics
	}
	return out
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func TestStatistics(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
		{Name: "u64", Type: arrow.PrimitiveTypes.Uint64},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "zeros", Type: arrow.PrimitiveTypes.Float32},
		{Name: "nans", Type: arrow.PrimitiveTypes.Float64},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "none", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int16), Nullable: true},
	}, nil)
	// The Arrow JSON reader has no NaN or -0: those columns are set below.
	rec := recordFromJSON(t, mem, schema, `[
	{"i32": -5, "u32": 1, "u64": 1, "f64": 2.5, "zeros": 0, "nans": 0, "s": "b", "ok": true, "none": null, "l": [3, null]},
	{"i32": null, "u32": 4294967295, "u64": 18446744073709551615, "f64": null, "zeros": 0, "nans": 0, "s": "", "ok": true, "none": null, "l": null},
	{"i32": 7, "u32": 2147483648, "u64": 9223372036854775808, "f64": -1.5, "zeros": 0, "nans": 0, "s": "żółw", "ok": true, "none": null, "l": [-4]},
	{"i32": 0, "u32": null, "u64": 2, "f64": 0, "zeros": 0, "nans": 0, "s": null, "ok": true, "none": null, "l": []}
	]`)
	defer rec.Release()
	setFloats(rec.Column(3).Data(), []float64{2.5, 0, -1.5, math.NaN()})
	setFloats32(rec.Column(4).Data(), []float32{0, float32(math.Copysign(0, -1)), 0, 0})
	setFloats(rec.Column(5).Data(), []float64{math.NaN(), math.NaN(), math.NaN(), math.NaN()})

	negZero32 := le32(math.Float32bits(float32(math.Copysign(0, -1))))
	want := map[string]format.Statistics{
		"i32": {NullCount: 1, MinValue: le32(uint32(0xFFFFFFFB)), MaxValue: le32(7)},
		// Unsigned: 4294967295 is the max, not -1 the min.
		"u32": {NullCount: 1, MinValue: le32(1), MaxValue: le32(4294967295)},
		"u64": {MinValue: le64(1), MaxValue: le64(18446744073709551615)},
		// NaN is left out.
		"f64": {NullCount: 1, MinValue: le64(math.Float64bits(-1.5)), MaxValue: le64(math.Float64bits(2.5))},
		// A min of zero is -0, a max of zero +0.
		"zeros": {MinValue: negZero32, MaxValue: le32(0)},
		// Only NaNs: no min or max.
		"nans": {},
		// Bytes compare unsigned: "ż" (0xC5 0xBC) after "b"; "" is a value.
		"s":              {NullCount: 1, MinValue: []byte{}, MaxValue: []byte("żółw")},
		"ok":             {MinValue: []byte{1}, MaxValue: []byte{1}},
		"none":           {NullCount: 4},
		"l.list.element": {NullCount: 3, MinValue: le32(uint32(0xFFFFFFFC)), MaxValue: le32(3)},
	}
	for _, dict := range []bool{true, false} {
		t.Run(fmt.Sprintf("dictionary=%v", dict), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Dictionary = dict
			path := writeFile(t, cfg, schema, rec)
			got := chunkStats(t, path)
			for col, w := range want {
				g := got[col]
				if g.NullCount != w.NullCount || !bytes.Equal(g.MinValue, w.MinValue) || !bytes.Equal(g.MaxValue, w.MaxValue) ||
					(g.MinValue == nil) != (w.MinValue == nil) {
					t.Errorf("%s: got null count %d, min %x, max %x; want %d, %x, %x",
						col, g.NullCount, g.MinValue, g.MaxValue, w.NullCount, w.MinValue, w.MaxValue)
				}
			}
			// DuckDB reads the statistics under the logical types.
			rows := duckdbtest.Query(t, "SELECT path_in_schema AS p, stats_min_value AS lo, stats_max_value AS hi, stats_null_count AS n "+
				"FROM parquet_metadata("+duckdbtest.Literal(path)+") WHERE path_in_schema IN ('u32', 'u64', 'f64', 's') ORDER BY column_id")
			wantDuck := []map[string]any{
				{"p": "u32", "lo": "1", "hi": "4294967295", "n": int64(1)},
				{"p": "u64", "lo": "1", "hi": "18446744073709551615", "n": int64(0)},
				{"p": "f64", "lo": "-1.5", "hi": "2.5", "n": int64(1)},
				{"p": "s", "lo": "", "hi": "żółw", "n": int64(1)},
			}
			if !reflect.DeepEqual(rows, wantDuck) {
				t.Errorf("duckdb parquet_metadata: got %v, want %v", rows, wantDuck)
			}
			// A filter on the statistics keeps the row with the unsigned max.
			n := duckdbtest.Query(t, "SELECT count(*) AS n FROM read_parquet("+duckdbtest.Literal(path)+") WHERE u32 > 4000000000")
			if n[0]["n"] != int64(1) {
				t.Errorf("duckdb: got %v rows with u32 > 4e9, want 1", n[0]["n"])
			}
		})
	}
}

func setFloats(d arrow.ArrayData, vals []float64) { copy(arrow.GetValues[float64](d, 1), vals) }

func setFloats32(d arrow.ArrayData, vals []float32) { copy(arrow.GetValues[float32](d, 1), vals) }

func TestLongStringsHaveNoMinMax(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "doc", Type: arrow.BinaryTypes.String},
		{Name: "short", Type: arrow.BinaryTypes.String},
	}, nil)
	long := strings.Repeat("x", maxStatisticsBytes+1)
	rec := recordFromJSON(t, mem, schema, `[{"doc": "a", "short": "a"}, {"doc": "`+long+`", "short": "b"}]`)
	defer rec.Release()
	got := chunkStats(t, writeFile(t, DefaultConfig(), schema, rec))
	if s := got["doc"]; s.MinValue != nil || s.MaxValue != nil {
		t.Errorf("doc: got min %.10q, max %.10q, want none for a max of %d bytes", s.MinValue, s.MaxValue, len(long))
	}
	if s := got["short"]; string(s.MinValue) != "a" || string(s.MaxValue) != "b" {
		t.Errorf("short: got min %q, max %q, want a, b", s.MinValue, s.MaxValue)
	}
}

func TestDictionaryFallsBackToPlain(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
		{Name: "empty", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	const n = 3000
	for i := range n {
		if i%10 == 3 {
			b.Field(0).AppendNull()
		} else {
			b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("value-%05d", i))
		}
		b.Field(1).(*array.Float64Builder).Append(float64(i) / 4)
		b.Field(2).AppendNull()
	}
	rec := b.NewRecordBatch()
	defer rec.Release()

	// Dictionaries forced on; they outgrow 4 KiB after a few hundred values.
	cfg := DefaultConfig()
	cfg.PageBytes = 4 << 10
	cfg.DictionaryColumns = map[string]bool{"s": true, "x": true, "empty": true}
	path := writeFile(t, cfg, schema, rec)

	md := fileMeta(t, path).MetaData()
	columns := openParquetGo(t, path).Metadata().RowGroups[0].Columns
	for i, col := range []string{"s", "x"} {
		cc, err := md.RowGroup(0).ColumnChunk(i)
		if err != nil {
			t.Fatal(err)
		}
		if !cc.HasDictionaryPage() {
			t.Errorf("%s: got no dictionary page", col)
		}
		got := map[string]int32{}
		for _, s := range columns[i].MetaData.EncodingStats {
			got[fmt.Sprintf("%s/%s", s.PageType, s.Encoding)] += s.Count
		}
		if got["DICTIONARY_PAGE/PLAIN"] != 1 || got["DATA_PAGE/RLE_DICTIONARY"] < 1 || got["DATA_PAGE/PLAIN"] < 1 {
			t.Errorf("%s: got pages %v, want a dictionary page, then dictionary-encoded pages, then plain ones", col, got)
		}
	}
	// A column of nulls only: a dictionary page of no values, and pages of
	// levels only.
	cc, err := md.RowGroup(0).ColumnChunk(2)
	if err != nil {
		t.Fatal(err)
	}
	if cc.NumValues() != n {
		t.Errorf("empty: got %d values, want %d", cc.NumValues(), n)
	}
	checkArrowEqual(t, path, rec, mem)
	got := duckdbtest.Query(t, "SELECT count(s) AS s, count(DISTINCT s) AS d, sum(x) AS x, count(empty) AS e FROM read_parquet("+duckdbtest.Literal(path)+")")
	want := map[string]any{"s": int64(2700), "d": int64(2700), "x": fmt.Sprint(float64(n*(n-1)/2) / 4), "e": int64(0)}
	for k, w := range want {
		if g := got[0][k]; fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("duckdb %s: got %v, want %v", k, g, w)
		}
	}
}

func TestPagesAndOffsetIndex(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	rec := manyRows(t, mem, 0, 20000)
	defer rec.Release()
	cfg := DefaultConfig()
	cfg.PageBytes, cfg.Dictionary = 8<<10, false
	path := writeFile(t, cfg, rec.Schema(), rec)

	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Close()
	rg := rdr.RowGroup(0)
	nulls := []int64{0, (20000 + 6) / 7} // the list column (2) counts empty lists and null elements too
	for col := range 3 {
		locs, err := openParquetGo(t, path).RowGroups()[0].ColumnChunks()[col].OffsetIndex()
		if err != nil {
			t.Fatal(err)
		}
		pr, err := rg.GetColumnPageReader(col)
		if err != nil {
			t.Fatal(err)
		}
		var pages, pageNulls int
		var rows int64
		for pr.Next() {
			dp, ok := pr.Page().(*file.DataPageV1)
			if !ok {
				t.Fatalf("column %d: got a %T, want version 1 data pages", col, pr.Page())
			}
			st := dp.Statistics()
			if !st.HasNullCount || st.HasMin || st.HasMax {
				t.Errorf("column %d page %d: got header statistics %+v, want a null count only", col, pages, st)
			}
			pageNulls += int(st.NullCount)
			if pages >= int(locs.NumPages()) {
				t.Fatalf("column %d: more pages than the offset index's %d", col, locs.NumPages())
			}
			if got := locs.FirstRowIndex(pages); got != rows {
				t.Errorf("column %d page %d: offset index says row %d, the pages before hold %d rows", col, pages, got, rows)
			}
			rows += pageRows(t, dp, col == 2)
			pages++
		}
		if err := pr.Err(); err != nil {
			t.Fatal(err)
		}
		if pages != int(locs.NumPages()) || pages < 3 {
			t.Errorf("column %d: got %d pages and %d in the offset index, want the same, at least 3", col, pages, locs.NumPages())
		}
		if rows != 20000 {
			t.Errorf("column %d: pages hold %d rows, want 20000", col, rows)
		}
		if col < 2 && int64(pageNulls) != nulls[col] {
			t.Errorf("column %d: page headers count %d nulls, want %d", col, pageNulls, nulls[col])
		}
	}
}

// pageRows counts the rows of a data page: its values, or for a repeated
// column the values at repetition level 0, which also proves that the page
// starts a row.
func pageRows(t *testing.T, dp *file.DataPageV1, repeated bool) int64 {
	t.Helper()
	if !repeated {
		return int64(dp.NumValues())
	}
	// Version 1: the repetition levels come first, RLE with their length.
	data := dp.Data()
	n := binary.LittleEndian.Uint32(data)
	levels := decodeLevels(t, data[4:4+n], 1, int(dp.NumValues()))
	if levels[0] != 0 {
		t.Errorf("a page of a repeated column starts at repetition level %d, want 0", levels[0])
	}
	var rows int64
	for _, l := range levels {
		if l == 0 {
			rows++
		}
	}
	return rows
}

// decodeLevels decodes n levels of the RLE/bit-packed hybrid at bit width 1.
func decodeLevels(t *testing.T, b []byte, width, n int) []byte {
	t.Helper()
	var out []byte
	for len(out) < n && len(b) > 0 {
		h, k := binary.Uvarint(b)
		b = b[k:]
		if h&1 == 0 { // a run: count, then the value in a byte
			for range h >> 1 {
				out = append(out, b[0])
			}
			b = b[1:]
			continue
		}
		groups := int(h >> 1) // bit-packed groups of 8
		for i := range groups * 8 * width {
			out = append(out, (b[i/8]>>(i%8))&1)
		}
		b = b[groups*width:]
	}
	return out[:n]
}

func TestWorkersWriteTheSameFile(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	recs := azumioRecords(mem, 40000, 25000)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	cfg := DefaultConfig()
	cfg.PageBytes, cfg.RowGroupRows = 32<<10, 16384
	encode := func(workers int) []byte {
		f, err := NewFormat(cfg)
		if err != nil {
			t.Fatal(err)
		}
		f.workers = workers
		var buf bytes.Buffer
		enc, err := f.NewEncoder(&buf, azumioSchema())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if err := enc.Encode(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	one := encode(1)
	for _, w := range []int{2, 7} {
		if got := encode(w); !bytes.Equal(got, one) {
			t.Errorf("%d workers: got a different file (%d bytes, want %d)", w, len(got), len(one))
		}
	}
	path := filepath.Join(t.TempDir(), "azumio.parquet")
	if err := os.WriteFile(path, one, 0o644); err != nil {
		t.Fatal(err)
	}
	tbl := readArrow(t, path, mem)
	defer tbl.Release()
	if tbl.NumRows() != 40000 {
		t.Errorf("got %d rows, want 40000", tbl.NumRows())
	}
	for i := range int(tbl.NumCols()) {
		got := column(t, tbl, i, mem)
		var parts []arrow.Array
		for _, r := range recs {
			parts = append(parts, r.Column(i))
		}
		want, err := array.Concatenate(parts, mem)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := jsonOf(t, got), jsonOf(t, want); g != w {
			t.Errorf("column %s differs", tbl.Schema().Field(i).Name)
		}
		got.Release()
		want.Release()
	}
}

func TestZstdCodec(t *testing.T) {
	c, err := newZstdCodec(1, 64<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			src := bytes.Repeat([]byte(fmt.Sprintf("page %d of values; ", g)), 20000) // larger than the window
			var comp, back []byte
			for range 3 {
				var err error
				if comp, err = c.Encode(comp, src); err != nil {
					t.Error(err)
					return
				}
				if back, err = c.Decode(back, comp); err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(back, src) {
					t.Errorf("goroutine %d: round trip changed %d bytes into %d", g, len(src), len(back))
				}
			}
			if len(comp) >= len(src)/10 {
				t.Errorf("goroutine %d: got %d bytes compressed from %d, want far fewer", g, len(comp), len(src))
			}
		})
	}
	wg.Wait()
}

// TestParquetGoDecodesEveryPage reads every page of every column chunk back
// with parquet-go, a third reader: value and null counts agree with the
// footer, and the values of flat columns with what was written.
func TestParquetGoDecodesEveryPage(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	all := allTypesRecord(t, mem)
	defer all.Release()
	many := manyRows(t, mem, 0, 5000)
	defer many.Release()
	for _, dict := range []bool{true, false} {
		for _, rec := range []arrow.RecordBatch{all, many} {
			cfg := DefaultConfig()
			cfg.Dictionary, cfg.PageBytes = dict, 4<<10
			path := writeFile(t, cfg, rec.Schema(), rec)
			pf := openParquetGo(t, path)
			for i, cc := range pf.RowGroups()[0].ColumnChunks() {
				meta := pf.Metadata().RowGroups[0].Columns[i].MetaData
				var got []any
				var nulls int64
				pages := cc.Pages()
				for {
					p, err := pages.ReadPage()
					if err != nil {
						break
					}
					vals := make([]pq.Value, p.NumValues())
					n, _ := p.Values().ReadValues(vals)
					for _, v := range vals[:n] {
						if v.IsNull() {
							nulls++
							got = append(got, nil)
						} else {
							got = append(got, v.String())
						}
					}
				}
				pages.Close()
				col := strings.Join(meta.PathInSchema, ".")
				if int64(len(got)) != meta.NumValues || nulls != meta.Statistics.NullCount {
					t.Errorf("dictionary=%v %s: parquet-go read %d values, %d null; the footer says %d, %d",
						dict, col, len(got), nulls, meta.NumValues, meta.Statistics.NullCount)
				}
				if rec == many && col == "name" {
					for k, v := range got {
						want := any(fmt.Sprintf("name-%d", k%100))
						if k%7 == 0 {
							want = nil
						}
						if v != want {
							t.Fatalf("dictionary=%v name[%d]: got %v, want %v", dict, k, v, want)
						}
					}
				}
			}
		}
	}
}

// TestDeltaIntegers: with integer_encoding delta, a page of integers that
// DELTA_BINARY_PACKED makes smaller is written so (timestamps that grow,
// counters that fall), one it would make larger stays PLAIN (deltas that
// overflow int64 between extremes), and pqarrow and DuckDB read every value
// back as the PLAIN file holds it; with plain, no page is delta-encoded.
func TestDeltaIntegers(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
		{Name: "down", Type: arrow.PrimitiveTypes.Int32},
		{Name: "wild", Type: arrow.PrimitiveTypes.Int64},
		{Name: "u", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	const n = 5000
	ts := func(i int) int64 { return 1735689600000 + int64(i)*300_000 + int64(i*7919%1000) }
	extremes := []int64{math.MinInt64, math.MaxInt64, -1, 0, math.MaxInt64 - 7, math.MinInt64 + 3}
	for i := range n {
		b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(ts(i)))
		b.Field(1).(*array.Int32Builder).Append(int32(1<<30 - i*3))
		b.Field(2).(*array.Int64Builder).Append(extremes[i%len(extremes)] ^ int64(i*2654435761))
		if i%7 == 0 {
			b.Field(3).AppendNull()
		} else {
			b.Field(3).(*array.Uint64Builder).Append(math.MaxUint64 - uint64(i)*1000)
		}
		b.Field(4).(*array.Float64Builder).Append(float64(i) / 8)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()

	pages := func(path string) map[string]map[string]int32 { return dataPageEncodings(t, path) }
	files := map[string]string{}
	for _, enc := range IntegerEncodings {
		cfg := DefaultConfig()
		cfg.Dictionary = false
		cfg.PageBytes = 4 << 10
		cfg.IntegerEncoding = enc
		files[enc] = writeFile(t, cfg, schema, rec)
		// arrow-go's delta decoder keeps a buffer of its allocator (see
		// DefaultIntegerEncoding): read with an allocator of its own.
		checkArrowEqual(t, files[enc], rec, memory.NewGoAllocator())
	}

	got := pages(files["delta"])
	for _, col := range []string{"ts", "down", "u"} {
		if got[col]["DELTA_BINARY_PACKED"] == 0 || got[col]["PLAIN"] != 0 {
			t.Errorf("delta: %s: got data pages %v, want DELTA_BINARY_PACKED only", col, got[col])
		}
	}
	if got["wild"]["DELTA_BINARY_PACKED"] != 0 || got["wild"]["PLAIN"] == 0 {
		t.Errorf("delta: wild: got data pages %v, want PLAIN only (deltas as wide as the values)", got["wild"])
	}
	if got["x"]["DELTA_BINARY_PACKED"] != 0 {
		t.Errorf("delta: x: got data pages %v, want no delta pages for doubles", got["x"])
	}
	for col, encs := range pages(files["plain"]) {
		if encs["DELTA_BINARY_PACKED"] != 0 {
			t.Errorf("plain: %s: got data pages %v, want PLAIN only", col, encs)
		}
	}

	// DuckDB reads the same rows, in the same order, from both files.
	rows := duckdbtest.Query(t, "SELECT count(*) AS n, count(*) FILTER (WHERE d.ts IS DISTINCT FROM p.ts OR d.down IS DISTINCT FROM p.down "+
		"OR d.wild IS DISTINCT FROM p.wild OR d.u IS DISTINCT FROM p.u) AS differ, epoch_ms(max(d.ts)) AS last, min(d.wild) AS lo, max(d.u) AS hi "+
		"FROM read_parquet("+duckdbtest.Literal(files["delta"])+") d POSITIONAL JOIN read_parquet("+duckdbtest.Literal(files["plain"])+") p")
	want := []map[string]any{{"n": int64(n), "differ": int64(0), "last": ts(n - 1), "lo": int64(math.MinInt64), "hi": uint64(math.MaxUint64 - 1000)}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("duckdb: got %#v, want %#v", rows, want)
	}
}

// dataPageEncodings returns the number of data pages of each encoding per
// column of the file at path (dotted path -> encoding -> pages), from its
// footer's encoding stats, as parquet-go reads them.
func dataPageEncodings(t *testing.T, path string) map[string]map[string]int32 {
	t.Helper()
	out := map[string]map[string]int32{}
	for _, rg := range openParquetGo(t, path).Metadata().RowGroups {
		for _, c := range rg.Columns {
			col := strings.Join(c.MetaData.PathInSchema, ".")
			if out[col] == nil {
				out[col] = map[string]int32{}
			}
			for _, s := range c.MetaData.EncodingStats {
				if s.PageType == format.DataPage {
					out[col][s.Encoding.String()] += s.Count
				}
			}
		}
	}
	return out
}

// TestByteStreamSplitFloats: with float_encoding byte_stream_split, the
// pages of float and double columns not dictionary-encoded (nullable ones
// with nulls, list elements) are BYTE_STREAM_SPLIT, a dictionary-encoded
// float column and the integers are not, and pqarrow and DuckDB read every
// value back as the PLAIN file holds it (bit for bit: DuckDB compares the
// values' IEEE bits); with plain, no page is split.
func TestByteStreamSplitFloats(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
		{Name: "y", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "few", Type: arrow.PrimitiveTypes.Float64},
		{Name: "path", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64), Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	const n = 5000
	x := func(i int) float64 { return float64(i*7919%100_003)/1000 - 40 }
	specials := []float64{0, math.Copysign(0, -1), math.MaxFloat64, -math.SmallestNonzeroFloat64, 1e-300}
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		v := x(i)
		if i%97 == 0 {
			v = specials[i/97%len(specials)]
		}
		b.Field(1).(*array.Float64Builder).Append(v)
		if i%5 == 0 {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.Float32Builder).Append(float32(x(i)) * 3)
		}
		b.Field(3).(*array.Float64Builder).Append(float64(i%4) / 2)
		lb := b.Field(4).(*array.ListBuilder)
		if i%11 == 0 {
			lb.AppendNull()
			continue
		}
		lb.Append(true)
		for k := range i % 4 {
			lb.ValueBuilder().(*array.Float64Builder).Append(x(i+k) / 7)
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()

	files := map[string]string{}
	for _, enc := range FloatEncodings {
		cfg := DefaultConfig()
		cfg.PageBytes = 4 << 10
		cfg.FloatEncoding = enc
		files[enc] = writeFile(t, cfg, schema, rec)
		checkArrowEqual(t, files[enc], rec, mem)
	}
	got := dataPageEncodings(t, files["byte_stream_split"])
	for _, col := range []string{"x", "y", "path.list.element"} {
		if got[col]["BYTE_STREAM_SPLIT"] == 0 || got[col]["PLAIN"] != 0 {
			t.Errorf("byte_stream_split: %s: got data pages %v, want BYTE_STREAM_SPLIT only", col, got[col])
		}
	}
	for _, col := range []string{"id", "few"} {
		if got[col]["BYTE_STREAM_SPLIT"] != 0 {
			t.Errorf("byte_stream_split: %s: got data pages %v, want none split", col, got[col])
		}
	}
	if got["few"]["RLE_DICTIONARY"] == 0 {
		t.Errorf("byte_stream_split: few: got data pages %v, want it dictionary-encoded", got["few"])
	}
	for col, encs := range dataPageEncodings(t, files["plain"]) {
		if encs["BYTE_STREAM_SPLIT"] != 0 {
			t.Errorf("plain: %s: got data pages %v, want none split", col, encs)
		}
	}

	// DuckDB reads the same values, bit for bit, in the same order, from both files.
	bits := func(c string) string {
		return "d." + c + "::DOUBLE IS DISTINCT FROM p." + c + "::DOUBLE OR CAST(d." + c + " AS VARCHAR) IS DISTINCT FROM CAST(p." + c + " AS VARCHAR)"
	}
	rows := duckdbtest.Query(t, "SELECT count(*) AS n, count(*) FILTER (WHERE d.id IS DISTINCT FROM p.id OR "+bits("x")+" OR "+bits("y")+" OR "+bits("few")+
		" OR CAST(d.path AS VARCHAR) IS DISTINCT FROM CAST(p.path AS VARCHAR)) AS differ, count(d.y) AS ys, sum(len(d.path)) AS points, "+
		"min(d.x) AS lo, max(d.x) AS hi FROM read_parquet("+duckdbtest.Literal(files["byte_stream_split"])+") d POSITIONAL JOIN read_parquet("+duckdbtest.Literal(files["plain"])+") p")
	points, lo := 0, math.Inf(1)
	xs := rec.Column(1).(*array.Float64).Float64Values()
	for i := range n {
		if i%11 != 0 {
			points += i % 4
		}
		lo = min(lo, xs[i])
	}
	want := []map[string]any{{"n": int64(n), "differ": int64(0), "ys": int64(n - n/5), "points": int64(points), "lo": lo, "hi": math.MaxFloat64}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("duckdb: got %#v, want %#v", rows, want)
	}
}
