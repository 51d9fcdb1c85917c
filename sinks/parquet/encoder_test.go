package parquet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/compress"

	"github.com/etl-toolkit/etl/internal/duckdbtest"
)

// checkArrowEqual reads path back with pqarrow and compares every column's
// values with want's.
func checkArrowEqual(t *testing.T, path string, want arrow.RecordBatch, mem memory.Allocator) {
	t.Helper()
	tbl := readArrow(t, path, mem)
	defer tbl.Release()
	if got, w := tbl.NumRows(), want.NumRows(); got != w {
		t.Fatalf("got %d rows, want %d", got, w)
	}
	for i, f := range want.Schema().Fields() {
		got := column(t, tbl, i, mem)
		if g, w := jsonOf(t, got), jsonOf(t, want.Column(i)); g != w {
			t.Errorf("column %s: got %s, want %s", f.Name, g, w)
		}
		got.Release()
	}
}

func TestListsWithNullElementsRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	f64, str := arrow.PrimitiveTypes.Float64, arrow.BinaryTypes.String
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int32},
		{Name: "opt_list_opt_elem", Type: arrow.ListOf(f64), Nullable: true},
		{Name: "list_opt_elem", Type: arrow.ListOf(str)},
		{Name: "opt_list_req_elem", Type: arrow.ListOfNonNullable(arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "nested", Type: arrow.ListOf(arrow.ListOf(arrow.PrimitiveTypes.Int32)), Nullable: true},
		{Name: "structs", Type: arrow.ListOf(arrow.StructOf(
			arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
			arrow.Field{Name: "b", Type: arrow.ListOf(str), Nullable: true},
		)), Nullable: true},
	}, nil)
	rec := recordFromJSON(t, mem, schema, `[
	{"id": 0, "opt_list_opt_elem": [1, null, 3], "list_opt_elem": [null], "opt_list_req_elem": [1, 2],
	 "nested": [[1, null], null, []], "structs": [{"a": 1, "b": ["x", null]}, null, {"a": null, "b": null}]},
	{"id": 1, "opt_list_opt_elem": null, "list_opt_elem": [], "opt_list_req_elem": null,
	 "nested": null, "structs": null},
	{"id": 2, "opt_list_opt_elem": [], "list_opt_elem": ["a", "", null, "b"], "opt_list_req_elem": [],
	 "nested": [], "structs": []},
	{"id": 3, "opt_list_opt_elem": [null, null], "list_opt_elem": [null, null], "opt_list_req_elem": [7],
	 "nested": [null, [null]], "structs": [null]},
	{"id": 4, "opt_list_opt_elem": [4.5], "list_opt_elem": ["z"], "opt_list_req_elem": [-1, -2, -3],
	 "nested": [[5], [6, 7]], "structs": [{"a": 2, "b": []}]}
	]`)
	defer rec.Release()

	for _, dict := range []bool{true, false} {
		t.Run(fmt.Sprintf("dictionary=%v", dict), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Dictionary = dict
			path := writeFile(t, cfg, schema, rec)
			checkArrowEqual(t, path, rec, mem)

			rows := duckdbtest.Query(t, "SELECT * FROM read_parquet("+duckdbtest.Literal(path)+") ORDER BY id")
			want := []map[string]any{
				{"id": int64(0), "opt_list_opt_elem": []any{1.0, nil, 3.0}, "list_opt_elem": []any{nil},
					"opt_list_req_elem": []any{int64(1), int64(2)},
					"nested":            []any{[]any{int64(1), nil}, nil, []any{}},
					"structs": []any{map[string]any{"a": int64(1), "b": []any{"x", nil}}, nil,
						map[string]any{"a": nil, "b": nil}}},
				{"id": int64(1), "opt_list_opt_elem": nil, "list_opt_elem": []any{}, "opt_list_req_elem": nil,
					"nested": nil, "structs": nil},
				{"id": int64(2), "opt_list_opt_elem": []any{}, "list_opt_elem": []any{"a", "", nil, "b"},
					"opt_list_req_elem": []any{}, "nested": []any{}, "structs": []any{}},
				{"id": int64(3), "opt_list_opt_elem": []any{nil, nil}, "list_opt_elem": []any{nil, nil},
					"opt_list_req_elem": []any{int64(7)}, "nested": []any{nil, []any{nil}}, "structs": []any{nil}},
				{"id": int64(4), "opt_list_opt_elem": []any{4.5}, "list_opt_elem": []any{"z"},
					"opt_list_req_elem": []any{int64(-1), int64(-2), int64(-3)},
					"nested":            []any{[]any{int64(5)}, []any{int64(6), int64(7)}},
					"structs":           []any{map[string]any{"a": int64(2), "b": []any{}}}},
			}
			for i := range want {
				for k, w := range want[i] {
					// DuckDB reads INT32 as int64 here too: the helper widens every integer.
					if g := rows[i][k]; !reflect.DeepEqual(g, w) {
						t.Errorf("row %d %s: got %#v, want %#v", i, k, g, w)
					}
				}
			}
		})
	}
}

func TestSlicedRecordsRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	rec := allTypesRecord(t, mem)
	defer rec.Release()
	// Slices start at an offset in every buffer, including list children and
	// struct fields; writing two slices must give the rows in order.
	a, b := rec.NewSlice(1, 3), rec.NewSlice(3, 4)
	defer a.Release()
	defer b.Release()
	path := writeFile(t, DefaultConfig(), rec.Schema(), a, b)
	want := rec.NewSlice(1, 4)
	defer want.Release()

	tbl := readArrow(t, path, mem)
	defer tbl.Release()
	for i, f := range rec.Schema().Fields() {
		if _, converted := convertedColumns[f.Name]; converted {
			continue // their conversion is checked in TestRoundTripWithPqarrow
		}
		got := column(t, tbl, i, mem)
		if g, w := jsonOf(t, got), jsonOf(t, want.Column(i)); g != w {
			t.Errorf("column %s: got %s, want %s", f.Name, g, w)
		}
		got.Release()
	}
}

func TestEncodeKeepsNothingOfTheRecord(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	rec := allTypesRecord(t, mem)
	defer rec.Release()
	// The expected values, from an untouched copy.
	wantPath := writeFile(t, DefaultConfig(), rec.Schema(), rec)

	// Encode a deep copy, then scribble over every one of its buffers before
	// Close: the file must not change.
	cp := deepCopy(t, rec, mem)
	var buf bytes.Buffer
	f, err := NewFormat(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	enc, err := f.NewEncoder(&buf, cp.Schema())
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(context.Background(), cp); err != nil {
		t.Fatal(err)
	}
	for _, c := range cp.Columns() {
		scribble(c.Data())
	}
	cp.Release()
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	gotPath := wantPath + ".copy"
	if err := os.WriteFile(gotPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	checkArrowEqualFiles(t, gotPath, wantPath, mem)
}

// deepCopy copies rec into fresh buffers through the IPC-free route of
// concatenating each column with nothing.
func deepCopy(t *testing.T, rec arrow.RecordBatch, mem memory.Allocator) arrow.RecordBatch {
	t.Helper()
	cols := make([]arrow.Array, rec.NumCols())
	for i, c := range rec.Columns() {
		var err error
		if cols[i], err = array.Concatenate([]arrow.Array{c}, mem); err != nil {
			t.Fatal(err)
		}
		defer cols[i].Release()
	}
	return array.NewRecordBatch(rec.Schema(), cols, rec.NumRows())
}

func scribble(d arrow.ArrayData) {
	for _, b := range d.Buffers() {
		if b != nil {
			for i := range b.Bytes() {
				b.Bytes()[i] = 0xAB
			}
		}
	}
	for _, c := range d.Children() {
		scribble(c)
	}
	if d.DataType().ID() == arrow.DICTIONARY {
		scribble(d.Dictionary())
	}
}

func checkArrowEqualFiles(t *testing.T, got, want string, mem memory.Allocator) {
	t.Helper()
	gt, wt := readArrow(t, got, mem), readArrow(t, want, mem)
	defer gt.Release()
	defer wt.Release()
	if gt.NumRows() != wt.NumRows() {
		t.Fatalf("got %d rows, want %d", gt.NumRows(), wt.NumRows())
	}
	for i := 0; i < int(wt.NumCols()); i++ {
		g, w := column(t, gt, i, mem), column(t, wt, i, mem)
		if gj, wj := jsonOf(t, g), jsonOf(t, w); gj != wj {
			t.Errorf("column %s: got %s, want %s", wt.Schema().Field(i).Name, gj, wj)
		}
		g.Release()
		w.Release()
	}
}

// manyRows returns n rows of (id int64, name string, vals list<float64>) with
// a null every 7th name and list, and lists of 0..4 elements.
func manyRows(t testing.TB, mem memory.Allocator, from, n int) arrow.RecordBatch {
	t.Helper()
	schema := manySchema()
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i := from; i < from+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%7 == 0 {
			b.Field(1).AppendNull()
			b.Field(2).AppendNull()
			continue
		}
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("name-%d", i%100))
		lb := b.Field(2).(*array.ListBuilder)
		lb.Append(true)
		for k := 0; k < i%5; k++ {
			if k == 2 {
				lb.ValueBuilder().AppendNull()
			} else {
				lb.ValueBuilder().(*array.Float64Builder).Append(float64(i) + float64(k)/10)
			}
		}
	}
	return b.NewRecordBatch()
}

func manySchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "vals", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64), Nullable: true},
	}, nil)
}

func TestCompressionOptions(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	rec := manyRows(t, mem, 0, 5000)
	defer rec.Release()
	for _, tc := range []struct {
		compression string
		level       int
		want        compress.Compression
	}{
		{"none", 0, compress.Codecs.Uncompressed},
		{"snappy", 0, compress.Codecs.Snappy},
		{"zstd", 0, compress.Codecs.Zstd},
		{"zstd", 3, compress.Codecs.Zstd},
		{"zstd", 19, compress.Codecs.Zstd},
		{"gzip", 0, compress.Codecs.Gzip},
		{"gzip", 1, compress.Codecs.Gzip},
		{"gzip", 9, compress.Codecs.Gzip},
	} {
		t.Run(fmt.Sprintf("%s-%d", tc.compression, tc.level), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Compression, cfg.CompressionLevel = tc.compression, tc.level
			path := writeFile(t, cfg, rec.Schema(), rec)

			md := fileMeta(t, path).MetaData()
			for i := range rec.NumCols() {
				cc, err := md.RowGroup(0).ColumnChunk(int(i))
				if err != nil {
					t.Fatal(err)
				}
				if got := cc.Compression(); got != tc.want {
					t.Errorf("column %d: got codec %s, want %s", i, got, tc.want)
				}
			}
			checkArrowEqual(t, path, rec, mem)
			got := duckdbtest.Query(t, "SELECT count(*) AS n, sum(id) AS s, count(name) AS names, "+
				"sum(len(vals)) AS elems FROM read_parquet("+duckdbtest.Literal(path)+")")
			want := map[string]any{"n": int64(5000), "s": "12497500", "names": int64(4285), "elems": "8570"}
			for k, w := range want {
				if g := fmt.Sprint(got[0][k]); g != fmt.Sprint(w) {
					t.Errorf("%s: got %v, want %v", k, g, w)
				}
			}
		})
	}
}

func TestCompressionShrinksFiles(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	rec := manyRows(t, mem, 0, 20000)
	defer rec.Release()
	size := func(compression string) int64 {
		cfg := DefaultConfig()
		cfg.Compression = compression
		fi, err := os.Stat(writeFile(t, cfg, rec.Schema(), rec))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	none := size("none")
	for _, c := range []string{"snappy", "zstd", "gzip"} {
		if got := size(c); got >= none {
			t.Errorf("%s: got %d bytes, want fewer than uncompressed %d", c, got, none)
		}
	}
}

func TestRowGroupsSplitByRows(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	var recs []arrow.RecordBatch
	for from := 0; from < 10000; from += 3000 {
		r := manyRows(t, mem, from, min(3000, 10000-from))
		defer r.Release()
		recs = append(recs, r)
	}
	cfg := DefaultConfig()
	cfg.RowGroupRows = 4096
	path := writeFile(t, cfg, manySchema(), recs...)

	md := fileMeta(t, path).MetaData()
	var got []int64
	for i := range md.NumRowGroups() {
		got = append(got, md.RowGroup(i).NumRows())
	}
	if want := []int64{4096, 4096, 1808}; !reflect.DeepEqual(got, want) {
		t.Errorf("got row groups of %v rows, want %v", got, want)
	}
	all := manyRows(t, mem, 0, 10000)
	defer all.Release()
	checkArrowEqual(t, path, all, mem)
	n := duckdbtest.Query(t, "SELECT count(*) AS n, count(DISTINCT id) AS d FROM read_parquet("+duckdbtest.Literal(path)+")")
	if n[0]["n"] != int64(10000) || n[0]["d"] != int64(10000) {
		t.Errorf("duckdb: got %v, want 10000 distinct rows", n[0])
	}
}

func TestRowGroupsSplitByBytes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	// Incompressible values: ids and distinct strings.
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i := range 50000 {
		b.Field(0).(*array.Int64Builder).Append(int64(i) * 7919)
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("%016x", uint64(i)*0x9E3779B97F4A7C15))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()

	cfg := DefaultConfig()
	cfg.Compression = "none"
	cfg.RowGroupBytes = 128 << 10
	cfg.PageBytes = 16 << 10
	path := writeFile(t, cfg, schema, rec)

	md := fileMeta(t, path).MetaData()
	if md.NumRowGroups() < 8 {
		t.Fatalf("got %d row groups, want at least 8 for ~1.2 MB of values at 128 KiB each", md.NumRowGroups())
	}
	// A row group is cut after the slice of rows that reaches the limit: it
	// may pass it by one slice (page_bytes/128 rows) and the page headers.
	limit := int64(cfg.RowGroupBytes)
	slack := int64(chunkRows(int64(cfg.PageBytes), 4+16)*(8+4+16)) + limit/100
	var rows int64
	for i := range md.NumRowGroups() {
		rg := md.RowGroup(i)
		rows += rg.NumRows()
		if got := rg.TotalCompressedSize(); got > limit+slack {
			t.Errorf("row group %d: got %d bytes, want at most %d", i, got, limit+slack)
		}
	}
	if rows != 50000 {
		t.Errorf("got %d rows in all row groups, want 50000", rows)
	}
	checkArrowEqual(t, path, rec, mem)
}

func TestPagesFollowPageBytes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewInt64Builder(mem)
	defer b.Release()
	for i := range 20000 {
		b.Append(int64(i))
	}
	ids := b.NewArray()
	defer ids.Release()
	rec := array.NewRecordBatch(schema, []arrow.Array{ids}, 20000)
	defer rec.Release()

	cfg := DefaultConfig()
	cfg.Dictionary, cfg.PageBytes = false, 8<<10
	path := writeFile(t, cfg, schema, rec)
	pf := openParquetGo(t, path)
	oi, err := pf.RowGroups()[0].ColumnChunks()[0].OffsetIndex()
	if err != nil {
		t.Fatal(err)
	}
	// 160 000 bytes of values in pages of about 8 KiB.
	if got := oi.NumPages(); got < 15 || got > 25 {
		t.Errorf("got %d pages, want about 20", got)
	}
	checkArrowEqual(t, path, rec, mem)
}

func TestPagesOfWideValues(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	// 2 KiB JSON-ish documents: slices of rows shrink so that pages stay
	// near page_bytes.
	schema := arrow.NewSchema([]arrow.Field{{Name: "extra", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewStringBuilder(mem)
	defer b.Release()
	for i := range 2000 {
		b.Append(fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, strings.Repeat(string(rune('a'+i%26)), 2048)))
	}
	docs := b.NewArray()
	defer docs.Release()
	rec := array.NewRecordBatch(schema, []arrow.Array{docs}, 2000)
	defer rec.Release()

	cfg := DefaultConfig()
	cfg.Compression, cfg.Dictionary, cfg.PageBytes = "none", false, 64<<10
	path := writeFile(t, cfg, schema, rec)
	oi, err := openParquetGo(t, path).RowGroups()[0].ColumnChunks()[0].OffsetIndex()
	if err != nil {
		t.Fatal(err)
	}
	// A page passes page_bytes by a sixteenth or a row at most; its header
	// (sizes, counts, encodings and a null count) adds a few bytes.
	value := int64(4 + docs.(*array.String).ValueLen(0))
	limit := int64(cfg.PageBytes) + max(int64(cfg.PageBytes)/16, value) + 64
	for i := range oi.NumPages() {
		if got := oi.CompressedPageSize(i); got > limit {
			t.Errorf("page %d: got %d bytes, want at most %d", i, got, limit)
		}
	}
	if n := oi.NumPages(); n < 50 {
		t.Errorf("got %d pages, want about 64 for 4 MiB in 64 KiB pages", n)
	}
	checkArrowEqual(t, path, rec, mem)
}

func TestDictionaryOptions(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "few", Type: arrow.BinaryTypes.String},        // 3 distinct values
		{Name: "unique", Type: arrow.PrimitiveTypes.Float64}, // all distinct
		{Name: "flag", Type: arrow.FixedWidthTypes.Boolean},  // never dictionary
		{Name: "kind", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}},
		{Name: "pos", Type: arrow.StructOf(
			arrow.Field{Name: "zone", Type: arrow.BinaryTypes.String},
			arrow.Field{Name: "lat", Type: arrow.PrimitiveTypes.Float64},
		)},
	}, nil)
	const n = 1000
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.StringBuilder).Append([]string{"a", "b", "c"}[i%3])
		b.Field(1).(*array.Float64Builder).Append(float64(i) * 1.5)
		b.Field(2).(*array.BooleanBuilder).Append(i%2 == 0)
		if err := b.Field(3).(*array.BinaryDictionaryBuilder).AppendString([]string{"x", "y"}[i%2]); err != nil {
			t.Fatal(err)
		}
		sb := b.Field(4).(*array.StructBuilder)
		sb.Append(true)
		sb.FieldBuilder(0).(*array.StringBuilder).Append([]string{"n", "s"}[i%2])
		sb.FieldBuilder(1).(*array.Float64Builder).Append(float64(i))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()

	leaves := []string{"few", "unique", "flag", "kind", "pos.zone", "pos.lat"}
	for _, tc := range []struct {
		name    string
		dict    bool
		columns map[string]bool
		want    []bool // per leaf: has a dictionary page
	}{
		// Default: dictionaries where the first values repeat; booleans never.
		{"default", true, nil, []bool{true, false, false, true, true, false}},
		// Off: only the Arrow dictionary column keeps one.
		{"off", false, nil, []bool{false, false, false, true, false, false}},
		// Per column: a name turns a column (and a struct's fields) on or
		// off; the longest path wins; booleans stay plain.
		{"columns", false, map[string]bool{"unique": true, "flag": true, "kind": false, "pos": true, "pos.lat": false},
			[]bool{false, true, false, false, true, false}},
		{"columns-off", true, map[string]bool{"few": false, "pos.zone": false},
			[]bool{false, false, false, true, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Dictionary, cfg.DictionaryColumns = tc.dict, tc.columns
			path := writeFile(t, cfg, schema, rec)
			md := fileMeta(t, path).MetaData()
			for i, leaf := range leaves {
				cc, err := md.RowGroup(0).ColumnChunk(i)
				if err != nil {
					t.Fatal(err)
				}
				if got := cc.HasDictionaryPage(); got != tc.want[i] {
					t.Errorf("%s: got dictionary page %v, want %v (encodings %v)", leaf, got, tc.want[i], cc.Encodings())
				}
			}
			checkArrowEqual(t, path, rec, mem)
		})
	}
}

func TestDictionaryArrays(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}
	schema := arrow.NewSchema([]arrow.Field{{Name: "kind", Type: dt, Nullable: true}}, nil)
	// A dictionary that holds a null: entries pointing at it are null.
	dict := arrayFromJSON(t, mem, arrow.BinaryTypes.String, `["run", null, "walk"]`)
	defer dict.Release()
	idx := arrayFromJSON(t, mem, arrow.PrimitiveTypes.Int16, `[0, 1, 2, null, 0, 2]`)
	defer idx.Release()
	kind := array.NewDictionaryArray(dt, idx, dict)
	defer kind.Release()
	rec := array.NewRecordBatch(schema, []arrow.Array{kind}, 6)
	defer rec.Release()

	path := writeFile(t, DefaultConfig(), schema, rec)
	tbl := readArrow(t, path, mem)
	defer tbl.Release()
	if got := tbl.Schema().Field(0).Type; got.ID() != arrow.DICTIONARY {
		t.Errorf("pqarrow: got type %s, want a dictionary", got)
	}
	got := column(t, tbl, 0, mem)
	defer got.Release()
	if g, w := jsonOf(t, got), `["run",null,"walk",null,"run","walk"]`; g != w {
		t.Errorf("pqarrow: got %s, want %s", g, w)
	}
	rows := duckdbtest.Run(t, "SELECT kind FROM read_parquet("+duckdbtest.Literal(path)+")")
	var vals []any
	for _, r := range rows.Rows {
		vals = append(vals, r[0])
	}
	if want := []any{"run", nil, "walk", nil, "run", "walk"}; !reflect.DeepEqual(vals, want) {
		t.Errorf("duckdb: got %v, want %v", vals, want)
	}
}

func TestFieldMetadataAsKeyValues(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	rec := allTypesRecord(t, mem)
	defer rec.Release()
	path := writeFile(t, DefaultConfig(), rec.Schema(), rec)
	kv := fileMeta(t, path).MetaData().KeyValueMetadata()
	for k, want := range map[string]string{
		"speed.unit":   "m/s",
		"samples.unit": "bpm",
		"pos.lat.unit": "deg",
		"source":       "test",
	} {
		if got := kv.FindValue(k); got == nil || *got != want {
			t.Errorf("key %s: got %v, want %q", k, got, want)
		}
	}
	if kv.FindValue("ARROW:schema") == nil {
		t.Error("got no ARROW:schema key")
	}
	rows := duckdbtest.Query(t, "SELECT value::VARCHAR AS v FROM parquet_kv_metadata("+duckdbtest.Literal(path)+") WHERE key::VARCHAR = 'speed.unit'")
	if len(rows) != 1 || rows[0]["v"] != "m/s" {
		t.Errorf("duckdb parquet_kv_metadata speed.unit: got %v, want m/s", rows)
	}
}

func TestEncoderErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	f, err := NewFormat(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("unsupported types", func(t *testing.T) {
		for _, tc := range []struct {
			field arrow.Field
			want  string
		}{
			{arrow.Field{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64)}, "column m: unsupported Arrow type map"},
			{arrow.Field{Name: "d", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}}, "column d: unsupported Arrow type decimal"},
			{arrow.Field{Name: "t", Type: arrow.FixedWidthTypes.Time32ms}, "column t: unsupported Arrow type time32"},
			{arrow.Field{Name: "v", Type: arrow.BinaryTypes.StringView}, "column v: unsupported Arrow type string_view"},
			{arrow.Field{Name: "s", Type: arrow.StructOf()}, "column s: a struct without fields"},
			{arrow.Field{Name: "l", Type: arrow.ListOf(arrow.Null)}, "column l.list.element: unsupported Arrow type null"},
		} {
			_, err := f.NewEncoder(io.Discard, arrow.NewSchema([]arrow.Field{tc.field}, nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: got %v, want an error containing %q", tc.field.Type, err, tc.want)
			}
		}
	})

	t.Run("bad schemas", func(t *testing.T) {
		i64 := arrow.PrimitiveTypes.Int64
		for _, tc := range []struct {
			schema *arrow.Schema
			want   string
		}{
			{arrow.NewSchema(nil, nil), "no columns"},
			{arrow.NewSchema([]arrow.Field{{Name: "a", Type: i64}, {Name: "a", Type: i64}}, nil), `column "a" appears twice`},
			{arrow.NewSchema([]arrow.Field{{Name: "", Type: i64}}, nil), "column 0 has no name"},
		} {
			if _, err := f.NewEncoder(io.Discard, tc.schema); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		}
	})

	t.Run("null in a non-nullable field", func(t *testing.T) {
		for _, tc := range []struct {
			field arrow.Field
			json  string
			want  string
		}{
			{arrow.Field{Name: "id", Type: arrow.PrimitiveTypes.Int64}, `[1, null]`, "column id is not nullable"},
			{arrow.Field{Name: "l", Type: arrow.ListOfNonNullable(arrow.PrimitiveTypes.Int64), Nullable: true}, `[[1, null]]`, "column l.list.element is not nullable"},
			{arrow.Field{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "a", Type: arrow.BinaryTypes.String}), Nullable: true}, `[{"a": null}]`, "column s.a is not nullable"},
			{arrow.Field{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64)}, `[[1], null]`, "column l is not nullable"},
		} {
			// Build the array nullable, then declare it not nullable.
			nf := tc.field
			nf.Nullable = true
			arr := arrayFromJSON(t, mem, nf.Type, tc.json)
			rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{tc.field}, nil), []arrow.Array{arr}, int64(arr.Len()))
			arr.Release()
			enc, err := f.NewEncoder(io.Discard, rec.Schema())
			if err != nil {
				t.Fatal(err)
			}
			err = enc.Encode(context.Background(), rec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: got %v, want an error containing %q", tc.field.Name, err, tc.want)
			}
			if err2 := enc.Close(); err2 == nil {
				t.Errorf("%s: Close after a failed Encode: got nil, want the error again", tc.field.Name)
			}
			rec.Release()
		}
	})

	t.Run("seconds out of range", func(t *testing.T) {
		ts := &arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"}
		b := array.NewTimestampBuilder(mem, ts)
		b.Append(arrow.Timestamp(1 << 62))
		arr := b.NewArray()
		b.Release()
		rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "ts", Type: ts}}, nil), []arrow.Array{arr}, 1)
		arr.Release()
		defer rec.Release()
		enc, err := f.NewEncoder(io.Discard, rec.Schema())
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.Encode(context.Background(), rec); err == nil || !strings.Contains(err.Error(), "does not fit in milliseconds") {
			t.Errorf("got %v, want an out-of-range error", err)
		}
	})

	t.Run("schema mismatch", func(t *testing.T) {
		rec := manyRows(t, mem, 0, 3)
		defer rec.Release()
		enc, err := f.NewEncoder(io.Discard, arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil))
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.Encode(context.Background(), rec); err == nil || !strings.Contains(err.Error(), "differs") {
			t.Errorf("got %v, want a schema error", err)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		rec := manyRows(t, mem, 0, 3)
		defer rec.Release()
		enc, err := f.NewEncoder(io.Discard, rec.Schema())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := enc.Encode(ctx, rec); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	})

	t.Run("failing writer", func(t *testing.T) {
		rec := manyRows(t, mem, 0, 1000)
		defer rec.Release()
		enc, err := f.NewEncoder(failingWriter{}, rec.Schema())
		if err != nil {
			t.Fatal(err)
		}
		err = enc.Encode(context.Background(), rec)
		if err == nil {
			err = enc.Close()
		}
		if !errors.Is(err, errDiskFull) {
			t.Errorf("got %v, want the writer's error", err)
		}
	})
}

var errDiskFull = errors.New("disk full")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestEmptyFile(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	path := writeFile(t, DefaultConfig(), allTypesSchema())
	tbl := readArrow(t, path, mem)
	defer tbl.Release()
	if tbl.NumRows() != 0 || tbl.NumCols() != int64(allTypesSchema().NumFields()) {
		t.Errorf("got %d rows and %d columns, want 0 and %d", tbl.NumRows(), tbl.NumCols(), allTypesSchema().NumFields())
	}
	got := duckdbtest.Query(t, "SELECT count(*) AS n FROM read_parquet("+duckdbtest.Literal(path)+")")
	if got[0]["n"] != int64(0) {
		t.Errorf("duckdb: got %v rows, want 0", got[0]["n"])
	}
}

func TestManyBatchesAcrossSlices(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	// Batches of odd sizes, small pages: values cross the encoder's slices of
	// rows, pages and row groups in every possible place.
	var recs []arrow.RecordBatch
	from := 0
	for _, n := range []int{1, 4095, 4097, 63, 10000, 2} {
		r := manyRows(t, mem, from, n)
		defer r.Release()
		recs = append(recs, r)
		from += n
	}
	cfg := DefaultConfig()
	cfg.PageBytes, cfg.RowGroupRows = 4<<10, 5000
	path := writeFile(t, cfg, manySchema(), recs...)
	all := manyRows(t, mem, 0, from)
	defer all.Release()
	checkArrowEqual(t, path, all, mem)
}
