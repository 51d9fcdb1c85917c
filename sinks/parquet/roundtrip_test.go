package parquet

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/internal/duckdbtest"
)

// allTypesSchema has a column of every Arrow type the sink writes.
func allTypesSchema() *arrow.Schema {
	ts := func(u arrow.TimeUnit, tz string) arrow.DataType { return &arrow.TimestampType{Unit: u, TimeZone: tz} }
	f64 := arrow.PrimitiveTypes.Float64
	meta := arrow.NewMetadata([]string{"source"}, []string{"test"})
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "i16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "u8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
		{Name: "u16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
		{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
		{Name: "u64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "speed", Type: f64, Nullable: true, Metadata: unit("m/s")},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "note", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "raw", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "ts_ms", Type: ts(arrow.Millisecond, "UTC"), Nullable: true},
		{Name: "ts_us", Type: ts(arrow.Microsecond, "Europe/Paris"), Nullable: true},
		{Name: "ts_s", Type: ts(arrow.Second, ""), Nullable: true},
		{Name: "ts_ns", Type: ts(arrow.Nanosecond, "UTC"), Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "day64", Type: arrow.FixedWidthTypes.Date64, Nullable: true},
		{Name: "samples", Type: arrow.ListOf(f64), Nullable: true, Metadata: unit("bpm")},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String)},
		{Name: "big", Type: arrow.LargeListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
		{Name: "xy", Type: arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float32), Nullable: true},
		{Name: "pos", Type: arrow.StructOf(
			arrow.Field{Name: "lat", Type: f64, Metadata: unit("deg")},
			arrow.Field{Name: "lon", Type: f64, Metadata: unit("deg")},
			arrow.Field{Name: "label", Type: arrow.BinaryTypes.String, Nullable: true},
		), Nullable: true},
		{Name: "laps", Type: arrow.ListOf(arrow.StructOf(
			arrow.Field{Name: "n", Type: arrow.PrimitiveTypes.Int32},
			arrow.Field{Name: "splits", Type: arrow.ListOf(f64), Nullable: true},
		)), Nullable: true},
		{Name: "kind", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, Nullable: true},
	}, &meta)
}

// allTypesRows are the rows of allTypesRecord but its last column, kind.
const allTypesRows = `[
{"id": 1, "i8": -128, "i16": -32768, "i32": -2147483648, "u8": 255, "u16": 65535, "u32": 4294967295,
 "u64": 18446744073709551615, "f32": 1.5, "speed": 3.25, "ok": true, "name": "Ana", "note": "long text",
 "raw": "AAEC", "ts_ms": "2026-11-21T10:00:00.123Z", "ts_us": "2026-11-21T10:00:00.123456Z",
 "ts_s": "2026-11-21T10:00:01", "ts_ns": "2026-11-21T10:00:00.123456789Z", "day": "2026-11-21",
 "day64": "2026-11-21", "samples": [72.5, null, 80], "tags": ["run", null, "park"], "big": [1, 2],
 "xy": [0.5, -0.5], "pos": {"lat": 45.5, "lon": 9.25, "label": "start"},
 "laps": [{"n": 1, "splits": [1.5, null]}, {"n": 2, "splits": null}, {"n": 3, "splits": []}]},
{"id": 2, "i8": null, "i16": null, "i32": null, "u8": null, "u16": null, "u32": null, "u64": null,
 "f32": null, "speed": null, "ok": null, "name": null, "note": null, "raw": null, "ts_ms": null,
 "ts_us": null, "ts_s": null, "ts_ns": null, "day": null, "day64": null, "samples": null, "tags": [],
 "big": null, "xy": null, "pos": null, "laps": null},
{"id": 3, "i8": 127, "i16": 32767, "i32": 2147483647, "u8": 0, "u16": 0, "u32": 0, "u64": 0,
 "f32": -0.25, "speed": -1e-300, "ok": false, "name": "", "note": "", "raw": "",
 "ts_ms": "1969-12-31T23:59:59.999Z", "ts_us": "1970-01-01T00:00:00Z", "ts_s": "1969-12-31T23:59:59",
 "ts_ns": "1969-12-31T23:59:59.999999999Z", "day": "1969-12-31", "day64": "1969-12-31",
 "samples": [], "tags": [null], "big": [], "xy": [null, 2], "pos": {"lat": -1, "lon": 0, "label": null},
 "laps": []},
{"id": 4, "i8": 0, "i16": 0, "i32": 0, "u8": 1, "u16": 1, "u32": 1, "u64": 1, "f32": 0, "speed": 0,
 "ok": true, "name": "żółw ü", "note": "x", "raw": "/w==", "ts_ms": "2000-02-29T00:00:00Z",
 "ts_us": "2000-02-29T00:00:00.000001Z", "ts_s": "2000-02-29T00:00:00",
 "ts_ns": "2000-02-29T00:00:00.000001999Z", "day": "2000-02-29", "day64": "2000-02-29",
 "samples": [null], "tags": ["a", "b", "c"], "big": [7], "xy": [1, 1],
 "pos": {"lat": 0, "lon": 0, "label": ""}, "laps": [{"n": 4, "splits": [2, 3]}]}
]`

// allTypesRecord returns a record of allTypesSchema with nulls, empty and
// null lists, null list elements, null structs and a dictionary column.
func allTypesRecord(t testing.TB, mem memory.Allocator) arrow.RecordBatch {
	t.Helper()
	schema := allTypesSchema()
	withoutKind := arrow.NewSchema(schema.Fields()[:schema.NumFields()-1], nil)
	rec := recordFromJSON(t, mem, withoutKind, allTypesRows)
	defer rec.Release()
	kind := dictionaryArray(t, mem, []*string{ptr("run"), nil, ptr("walk"), ptr("run")})
	defer kind.Release()
	cols := append(append([]arrow.Array{}, rec.Columns()...), kind)
	return array.NewRecordBatch(schema, cols, rec.NumRows())
}

// convertedColumns are the columns the sink converts, as they read back.
var convertedColumns = map[string]struct {
	typ    arrow.DataType
	values string
}{
	"ts_s": {&arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"},
		`["2026-11-21T10:00:01Z", null, "1969-12-31T23:59:59Z", "2000-02-29T00:00:00Z"]`},
	// Nanoseconds round down to the microsecond, also before 1970.
	"ts_ns": {&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"},
		`["2026-11-21T10:00:00.123456Z", null, "1969-12-31T23:59:59.999999Z", "2000-02-29T00:00:00.000001Z"]`},
	"day64": {arrow.FixedWidthTypes.Date32, `["2026-11-21", null, "1969-12-31", "2000-02-29"]`},
}

func TestRoundTripWithPqarrow(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	rec := allTypesRecord(t, mem)
	defer rec.Release()
	path := writeFile(t, DefaultConfig(), rec.Schema(), rec)

	tbl := readArrow(t, path, mem)
	defer tbl.Release()
	if got, want := tbl.NumRows(), rec.NumRows(); got != want {
		t.Fatalf("got %d rows, want %d", got, want)
	}
	if got, want := tbl.NumCols(), int64(rec.NumCols()); got != want {
		t.Fatalf("got %d columns, want %d", got, want)
	}
	for i, f := range rec.Schema().Fields() {
		t.Run(f.Name, func(t *testing.T) {
			gf := tbl.Schema().Field(i)
			if gf.Name != f.Name || gf.Nullable != f.Nullable {
				t.Errorf("got field %s nullable=%v, want %s nullable=%v", gf.Name, gf.Nullable, f.Name, f.Nullable)
			}
			got := column(t, tbl, i, mem)
			defer got.Release()
			want := rec.Column(i)
			wantType := f.Type
			if c, ok := convertedColumns[f.Name]; ok {
				w := arrayFromJSON(t, mem, c.typ, c.values)
				defer w.Release()
				want, wantType = w, c.typ
			}
			if !sameTypeModuloElementNames(gf.Type, wantType) {
				t.Errorf("got type %s, want %s", gf.Type, wantType)
			}
			if g, w := jsonOf(t, got), jsonOf(t, want); g != w {
				t.Errorf("got values %s, want %s", g, w)
			}
			if u, ok := f.Metadata.GetValue("unit"); ok {
				if g, _ := gf.Metadata.GetValue("unit"); g != u {
					t.Errorf("got unit %q, want %q (field metadata %v)", g, u, gf.Metadata)
				}
			}
		})
	}
	// Nested field metadata and schema metadata come back too.
	pos := tbl.Schema().Field(rec.Schema().FieldIndices("pos")[0]).Type.(*arrow.StructType)
	if u, _ := pos.Field(0).Metadata.GetValue("unit"); u != "deg" {
		t.Errorf("got pos.lat unit %q, want deg", u)
	}
	if s, _ := arrowSchema(t, path).Metadata().GetValue("source"); s != "test" {
		t.Errorf("got schema metadata source=%q, want test", s)
	}
}

// sameTypeModuloElementNames compares types, ignoring the names of list
// elements: the file names them "element" as Parquet's LIST type says.
func sameTypeModuloElementNames(a, b arrow.DataType) bool {
	return arrow.TypeEqual(renameElements(a), renameElements(b))
}

func renameElements(t arrow.DataType) arrow.DataType {
	switch t := t.(type) {
	case *arrow.ListType:
		e := t.ElemField()
		e.Name, e.Type, e.Metadata = "element", renameElements(e.Type), arrow.Metadata{}
		return arrow.ListOfField(e)
	case *arrow.LargeListType:
		e := t.ElemField()
		e.Name, e.Type, e.Metadata = "element", renameElements(e.Type), arrow.Metadata{}
		return arrow.LargeListOfField(e)
	case *arrow.FixedSizeListType:
		e := t.ElemField()
		e.Name, e.Type, e.Metadata = "element", renameElements(e.Type), arrow.Metadata{}
		return arrow.FixedSizeListOfField(t.Len(), e)
	case *arrow.StructType:
		fs := make([]arrow.Field, t.NumFields())
		for i, f := range t.Fields() {
			f.Type, f.Metadata = renameElements(f.Type), arrow.Metadata{}
			fs[i] = f
		}
		return arrow.StructOf(fs...)
	}
	return t
}

// jsonOf renders an array's values as JSON (dictionaries resolved).
func jsonOf(t testing.TB, a arrow.Array) string {
	t.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRoundTripWithDuckDB(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	rec := allTypesRecord(t, mem)
	defer rec.Release()
	path := writeFile(t, DefaultConfig(), rec.Schema(), rec)
	from := "read_parquet(" + duckdbtest.Literal(path) + ")"

	// Timestamps are instants: DuckDB reads them WITH TIME ZONE.
	types := duckdbtest.Query(t, "SELECT typeof(ts_ms) AS ms, typeof(ts_us) AS us, typeof(ts_s) AS s, typeof(ts_ns) AS ns FROM "+from+" LIMIT 1")
	for _, c := range []string{"ms", "us", "s", "ns"} {
		if got := types[0][c]; got != "TIMESTAMP WITH TIME ZONE" {
			t.Errorf("typeof(ts_%s): got %v, want TIMESTAMP WITH TIME ZONE", c, got)
		}
	}

	rows := duckdbtest.Query(t, "SELECT * FROM "+from+" ORDER BY id")
	if len(rows) != 4 {
		t.Fatalf("got %d rows, want 4", len(rows))
	}
	checks := []struct {
		row  int
		col  string
		want any
	}{
		{0, "u64", uint64(18446744073709551615)},
		{0, "ts_ms", "2026-11-21T10:00:00.123Z"},
		{0, "ts_us", "2026-11-21T10:00:00.123456Z"},
		{0, "ts_ns", "2026-11-21T10:00:00.123456Z"},
		{0, "samples", []any{72.5, nil, 80.0}},
		{0, "tags", []any{"run", nil, "park"}},
		{0, "pos", map[string]any{"lat": 45.5, "lon": 9.25, "label": "start"}},
		{0, "laps", []any{
			map[string]any{"n": int64(1), "splits": []any{1.5, nil}},
			map[string]any{"n": int64(2), "splits": nil},
			map[string]any{"n": int64(3), "splits": []any{}},
		}},
		{0, "kind", "run"},
		{1, "samples", nil},
		{1, "tags", []any{}},
		{1, "pos", nil},
		{1, "kind", nil},
		{2, "ts_ns", "1969-12-31T23:59:59.999999Z"},
		{2, "day", "1969-12-31"},
		{2, "samples", []any{}},
		{2, "tags", []any{nil}},
		{2, "xy", []any{nil, 2.0}},
		{3, "samples", []any{nil}},
		{3, "raw", []byte{0xff}},
		{3, "name", "żółw ü"},
	}
	for _, c := range checks {
		if got := rows[c.row][c.col]; !reflect.DeepEqual(got, c.want) {
			t.Errorf("row %d %s: got %#v, want %#v", c.row, c.col, got, c.want)
		}
	}

	checkGolden(t, "alltypes.golden", dumpFile(t, path))
}

// dumpFile renders what readers see of a file, for golden comparison: the
// Parquet schema, the key-value metadata (ARROW:schema as its decoded Arrow
// schema), DuckDB's column types and DuckDB's rows as JSON.
func dumpFile(t *testing.T, path string) string {
	t.Helper()
	var b strings.Builder
	f := openParquetGo(t, path)
	fmt.Fprintf(&b, "# parquet schema\n%s\n", f.Schema())
	fmt.Fprintf(&b, "\n# column chunks of row group 0: path, encodings, codec\n")
	md := fileMeta(t, path).MetaData()
	if md.NumRowGroups() > 0 {
		rg := md.RowGroup(0)
		for i := range rg.NumColumns() {
			cc, err := rg.ColumnChunk(i)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %v %s\n", cc.PathInSchema(), cc.Encodings(), cc.Compression())
		}
	}
	fmt.Fprintf(&b, "\n# key-value metadata\n")
	kv := map[string]string{}
	for _, e := range f.Metadata().KeyValueMetadata {
		kv[e.Key] = e.Value
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "ARROW:schema" {
			fmt.Fprintf(&b, "ARROW:schema (as pqarrow reads it):\n%s\n", arrowSchema(t, path))
			continue
		}
		fmt.Fprintf(&b, "%s = %s\n", k, kv[k])
	}
	from := "read_parquet(" + duckdbtest.Literal(path) + ")"
	desc := duckdbtest.Run(t, "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "+from+")")
	fmt.Fprintf(&b, "\n# duckdb types\n")
	for _, r := range desc.Rows {
		fmt.Fprintf(&b, "%s %s\n", r[0], r[1])
	}
	res := duckdbtest.Run(t, "SELECT * FROM "+from)
	fmt.Fprintf(&b, "\n# duckdb rows\n")
	for _, r := range res.Rows {
		line, err := json.Marshal(rowObject(res.Columns, r))
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// rowObject keeps column order in JSON.
type orderedRow struct {
	cols []string
	vals []any
}

func rowObject(cols []string, vals []any) orderedRow { return orderedRow{cols, vals} }

func (r orderedRow) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, c := range r.cols {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(c)
		v, err := json.Marshal(r.vals[i])
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}
