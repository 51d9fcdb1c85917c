package plugins_test

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
)

// allTypes is a schema with a column of (nearly) every Arrow type, each
// nullable.
var allTypes = arrow.NewSchema([]arrow.Field{
	{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
	{Name: "i16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "u8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
	{Name: "u16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
	{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
	{Name: "u64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "f16", Type: arrow.FixedWidthTypes.Float16, Nullable: true},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true,
		Metadata: arrow.NewMetadata([]string{"unit"}, []string{"m/s"})},
	{Name: "bool", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "str", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "lstr", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	{Name: "strview", Type: arrow.BinaryTypes.StringView, Nullable: true},
	{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "lbin", Type: arrow.BinaryTypes.LargeBinary, Nullable: true},
	{Name: "fsb", Type: &arrow.FixedSizeBinaryType{ByteWidth: 3}, Nullable: true},
	{Name: "date32", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "date64", Type: arrow.FixedWidthTypes.Date64, Nullable: true},
	{Name: "time32", Type: arrow.FixedWidthTypes.Time32ms, Nullable: true},
	{Name: "time64", Type: arrow.FixedWidthTypes.Time64us, Nullable: true},
	{Name: "ts_s", Type: arrow.FixedWidthTypes.Timestamp_s, Nullable: true},
	{Name: "ts_ms", Type: arrow.FixedWidthTypes.Timestamp_ms, Nullable: true},
	{Name: "ts_us_tz", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "Europe/Zurich"}, Nullable: true},
	{Name: "ts_ns", Type: arrow.FixedWidthTypes.Timestamp_ns, Nullable: true},
	{Name: "dur", Type: arrow.FixedWidthTypes.Duration_ms, Nullable: true},
	{Name: "months", Type: arrow.FixedWidthTypes.MonthInterval, Nullable: true},
	{Name: "daytime", Type: arrow.FixedWidthTypes.DayTimeInterval, Nullable: true},
	{Name: "mdn", Type: arrow.FixedWidthTypes.MonthDayNanoInterval, Nullable: true},
	{Name: "dec128", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}, Nullable: true},
	{Name: "dec256", Type: &arrow.Decimal256Type{Precision: 40, Scale: 5}, Nullable: true},
	{Name: "list", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
	{Name: "llist", Type: arrow.LargeListOf(arrow.BinaryTypes.String), Nullable: true},
	{Name: "fsl", Type: arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float64), Nullable: true},
	{Name: "struct", Type: arrow.StructOf(
		arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
	), Nullable: true},
	{Name: "map", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int32), Nullable: true},
	{Name: "null", Type: arrow.Null, Nullable: true},
}, &allTypesMetadata)

var allTypesMetadata = arrow.NewMetadata([]string{"source"}, []string{"test"})

// allTypesRows are three rows of allTypes: values, extremes, nulls.
const allTypesRows = `[
{"i8": -128, "i16": -32768, "i32": -2147483648, "i64": -9223372036854775808, "u8": 255, "u16": 65535, "u32": 4294967295, "u64": 18446744073709551615,
 "f16": 1.5, "f32": -3.25, "f64": 1e300, "bool": true, "str": "ünïcödé, \"quoted\"\nline", "lstr": "large", "strview": "a string longer than twelve bytes",
 "bin": "AAEC", "lbin": "/w==", "fsb": "YWJj", "date32": "2026-11-21", "date64": "2026-11-21", "time32": "10:00:00.123", "time64": "10:00:00.123456",
 "ts_s": "2026-11-21T10:00:00Z", "ts_ms": "2026-11-21T10:00:00.123Z", "ts_us_tz": "2026-11-21T10:00:00.123456Z", "ts_ns": "2026-11-21T10:00:00.123456789Z",
 "dur": 1500, "months": {"months": 14}, "daytime": {"days": 2, "milliseconds": 3}, "mdn": {"months": 1, "days": 2, "nanoseconds": 3},
 "dec128": "12345678.90", "dec256": "123456789012345678901234567890.12345",
 "list": [1, null, 3], "llist": ["x", null], "fsl": [1.5, 2.5, 3.5], "struct": {"a": 7, "b": "seven"},
 "map": [{"key": "k", "value": 1}, {"key": "l", "value": null}], "null": null},
{"i8": 127, "i16": 32767, "i32": 2147483647, "i64": 9223372036854775807, "u8": 0, "u16": 0, "u32": 0, "u64": 0,
 "f16": -0.5, "f32": 1e38, "f64": -0.0, "bool": false, "str": "", "lstr": "", "strview": "", "bin": "", "lbin": "", "fsb": "AAAA",
 "date32": "1970-01-01", "date64": "1900-01-01", "time32": "00:00:00", "time64": "23:59:59.999999",
 "ts_s": "1900-01-01T00:00:00Z", "ts_ms": "1970-01-01T00:00:00Z", "ts_us_tz": "2262-04-11T23:47:16Z", "ts_ns": "1970-01-01T00:00:00Z",
 "dur": -1, "months": {"months": -1}, "daytime": {"days": 0, "milliseconds": 0}, "mdn": {"months": 0, "days": 0, "nanoseconds": -1},
 "dec128": "-0.01", "dec256": "0.00000", "list": [], "llist": [], "fsl": [0, 0, 0], "struct": {"a": null, "b": null}, "map": [], "null": null},
{}
]`

// allTypesRecord returns allTypesRows, with a dictionary column and a UUID
// extension column added, built on mem.
func allTypesRecord(t *testing.T, mem memory.Allocator) arrow.RecordBatch {
	t.Helper()
	rec, _, err := array.RecordFromJSON(mem, allTypes, strings.NewReader(allTypesRows))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()

	dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}
	db := array.NewDictionaryBuilder(mem, dictType).(*array.BinaryDictionaryBuilder)
	defer db.Release()
	db.AppendString("walk")
	db.AppendString("walk")
	db.AppendNull()
	dict := db.NewArray()
	defer dict.Release()

	ub := extensions.NewUUIDBuilder(mem)
	defer ub.Release()
	ub.AppendValueFromString("123e4567-e89b-12d3-a456-426614174000")
	ub.AppendValueFromString("00000000-0000-0000-0000-000000000000")
	ub.AppendNull()
	uuids := ub.NewArray()
	defer uuids.Release()

	fields := append(allTypes.Fields(),
		arrow.Field{Name: "dict", Type: dictType, Nullable: true},
		arrow.Field{Name: "uuid", Type: extensions.NewUUIDType(), Nullable: true},
	)
	md := allTypes.Metadata()
	schema := arrow.NewSchema(fields, &md)
	cols := append(append([]arrow.Array(nil), rec.Columns()...), dict, uuids)
	return array.NewRecordBatch(schema, cols, rec.NumRows())
}

// Every column type survives the trip through a plugin and back (Arrow IPC
// both ways): a pass-through transform in another process returns records
// equal to its input, schema metadata and field metadata included.
func TestRoundTripAllTypes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	tr := openTransform(t, faultyBin, "", mem, nil)
	defer tr.Close()

	rec := allTypesRecord(t, mem)
	defer rec.Release()
	for _, slice := range []struct {
		name   string
		lo, hi int64
	}{{"whole", 0, 3}, {"sliced", 1, 3}} {
		t.Run(slice.name, func(t *testing.T) {
			in := rec.NewSlice(slice.lo, slice.hi)
			defer in.Release()
			in.Retain() // Apply takes one reference
			var got collect
			defer got.release()
			err := tr.Apply(context.Background(), core.Batch{Stream: "s", Unit: "u", Record: in, Position: core.Position("p")}, got.emit)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.batches) != 1 {
				t.Fatalf("got %d batches, want 1", len(got.batches))
			}
			b := got.batches[0]
			if b.Stream != "s" || b.Unit != "u" || string(b.Position) != "p" {
				t.Errorf("got stream %q, unit %q, position %q; want s, u, p", b.Stream, b.Unit, b.Position)
			}
			if !b.Record.Schema().Equal(in.Schema()) || !b.Record.Schema().Metadata().Equal(in.Schema().Metadata()) {
				t.Errorf("got schema\n%v\nwant\n%v", b.Record.Schema(), in.Schema())
			}
			for i, f := range in.Schema().Fields() {
				if !b.Record.Schema().Field(i).Metadata.Equal(f.Metadata) {
					t.Errorf("column %s: got metadata %v, want %v", f.Name, b.Record.Schema().Field(i).Metadata, f.Metadata)
				}
			}
			if !array.RecordEqual(b.Record, in) {
				for i := range in.NumCols() {
					if !array.Equal(b.Record.Column(int(i)), in.Column(int(i))) {
						t.Errorf("column %s: got %v, want %v", in.ColumnName(int(i)), b.Record.Column(int(i)), in.Column(int(i)))
					}
				}
			}
		})
	}
}

// Batches larger than gRPC's 4 MiB message limit travel in chunks, both ways:
// to a sink, and back from a transform. The largest has one value of 6 MiB.
func TestLargeBatches(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	build := func(values ...string) arrow.RecordBatch {
		b := array.NewStringBuilder(mem)
		defer b.Release()
		b.AppendValues(values, nil)
		col := b.NewArray()
		defer col.Release()
		return array.NewRecordBatch(schema, []arrow.Array{col}, int64(len(values)))
	}
	many := make([]string, 10_000)
	for i := range many {
		many[i] = strings.Repeat(string(rune('a'+i%26)), 1000) // 10 MB in all
	}
	cases := []struct {
		name string
		rec  arrow.RecordBatch
	}{
		{"10MB-of-rows", build(many...)},
		{"one-6MiB-value", build(strings.Repeat("x", 6<<20))},
	}
	tr := openTransform(t, faultyBin, "", mem, nil)
	defer tr.Close()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer c.rec.Release()
			c.rec.Retain()
			var got collect
			defer got.release()
			if err := tr.Apply(context.Background(), core.Batch{Stream: "s", Unit: "u", Record: c.rec}, got.emit); err != nil {
				t.Fatal(err)
			}
			if len(got.batches) != 1 || !array.RecordEqual(got.batches[0].Record, c.rec) {
				t.Fatalf("got %d batches back, want 1 equal to the %d-row batch sent", len(got.batches), c.rec.NumRows())
			}

			dir := t.TempDir()
			s := openSink(t, jsonlBin, "path: "+dir, mem)
			if err := s.Write(context.Background(), core.Batch{Stream: "s", Unit: "u", Record: c.rec}); err != nil {
				t.Fatal(err)
			}
			txn, err := s.Prepare(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Commit(context.Background(), txn); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			rows := readJSONLines(t, dir)
			if len(rows) != int(c.rec.NumRows()) {
				t.Fatalf("sink committed %d rows, want %d", len(rows), c.rec.NumRows())
			}
			col := c.rec.Column(0).(*array.String)
			for i, r := range rows {
				if r["s"] != col.Value(i) {
					t.Fatalf("row %d: got a value of %d bytes, want %d bytes", i, len(r["s"].(string)), len(col.Value(i)))
				}
			}
		})
	}
}
