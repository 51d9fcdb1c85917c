package csv

import (
	"context"
	stdcsv "encoding/csv"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sinks/files"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// typesSchema has a column of every type the sink formats, most of them nullable.
var typesSchema = arrow.NewSchema([]arrow.Field{
	{Name: "null", Type: arrow.Null, Nullable: true},
	{Name: "bool", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "int8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
	{Name: "int16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
	{Name: "int32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "int64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "uint8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
	{Name: "uint64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "float16", Type: arrow.FixedWidthTypes.Float16, Nullable: true},
	{Name: "float32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "float64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "special", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "decimal", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}, Nullable: true},
	{Name: "string", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "large_string", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	{Name: "string_view", Type: arrow.BinaryTypes.StringView, Nullable: true},
	{Name: "binary", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "fixed_binary", Type: &arrow.FixedSizeBinaryType{ByteWidth: 2}, Nullable: true},
	{Name: "ts_s", Type: &arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"}, Nullable: true},
	{Name: "ts_ms", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "ts_us_ny", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "America/New_York"}, Nullable: true},
	{Name: "ts_ns", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}, Nullable: true},
	{Name: "date32", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "date64", Type: arrow.FixedWidthTypes.Date64, Nullable: true},
	{Name: "time32", Type: arrow.FixedWidthTypes.Time32ms, Nullable: true},
	{Name: "time64", Type: arrow.FixedWidthTypes.Time64us, Nullable: true},
	{Name: "duration", Type: arrow.FixedWidthTypes.Duration_ms, Nullable: true},
	{Name: "list", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64), Nullable: true},
	{Name: "large_list", Type: arrow.LargeListOf(arrow.BinaryTypes.String), Nullable: true},
	{Name: "fixed_list", Type: arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Int32), Nullable: true},
	{Name: "struct", Type: arrow.StructOf(
		arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "at", Type: arrow.FixedWidthTypes.Timestamp_ms, Nullable: true},
	), Nullable: true},
	{Name: "map", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), Nullable: true},
	{Name: "nested", Type: arrow.ListOf(arrow.StructOf(
		arrow.Field{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		arrow.Field{Name: "v", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		arrow.Field{Name: "raw", Type: arrow.BinaryTypes.Binary, Nullable: true},
	)), Nullable: true},
	{Name: "dict", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}, Nullable: true},
	{Name: "dict_float", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.PrimitiveTypes.Float64}, Nullable: true},
}, nil)

const typesRows = `[
{"null": null, "bool": true, "int8": -128, "int16": 32767, "int32": -2147483648, "int64": 9223372036854775807,
 "uint8": 255, "uint64": 18446744073709551615, "float16": 1.5, "float32": 0.1, "float64": 0.1, "special": "NaN",
 "decimal": "12.50", "string": "plain", "large_string": "large", "string_view": "view", "binary": "aGk=",
 "fixed_binary": "AP8=", "ts_s": "2026-11-21T10:00:00Z", "ts_ms": "2026-11-21T10:00:00.123Z",
 "ts_us_ny": "2026-11-21T10:00:00.123456Z", "ts_ns": 1795255200123456789, "date32": "2026-11-21",
 "date64": "2026-11-21", "time32": "10:00:00.123", "time64": "23:59:59.999999", "duration": 1500,
 "list": [1.5, null, 2], "large_list": ["a", "b"], "fixed_list": [1, 2],
 "struct": {"a": 1, "b": "x", "at": "2026-11-21T10:00:00Z"}, "map": [{"key": "k", "value": 1}, {"key": "k2", "value": null}],
 "nested": [{"day": "2026-11-21", "v": "NaN", "raw": "aGk="}], "dict": "run", "dict_float": 1.25},
{"null": null, "bool": false, "int8": 127, "int16": -32768, "int32": 0, "int64": -9223372036854775808,
 "uint8": 0, "uint64": 0, "float16": -0.5, "float32": 3.4028235e38, "float64": 1e21, "special": "+Inf",
 "decimal": "-0.01", "string": "comma, \"quotes\"\nand a line break", "large_string": "", "string_view": "",
 "binary": "", "fixed_binary": "AAA=", "ts_s": "1969-12-31T23:59:59Z", "ts_ms": "1970-01-01T00:00:00Z",
 "ts_us_ny": "2026-07-01T04:00:00Z", "ts_ns": 9223372036854775807, "date32": "1969-12-31",
 "date64": "1970-01-01", "time32": "00:00:00", "time64": "00:00:00.000001", "duration": -1,
 "list": [], "large_list": ["quote \" and \\ backslash", "tab\there"], "fixed_list": [null, 3],
 "struct": {"a": null, "b": "ünïcödé", "at": null}, "map": [], "nested": [],
 "dict": "walk", "dict_float": "NaN"},
{"null": null, "bool": null, "int8": null, "int16": null, "int32": null, "int64": null, "uint8": null,
 "uint64": null, "float16": null, "float32": null, "float64": -0.0, "special": "-Inf", "decimal": null,
 "string": null, "large_string": null, "string_view": null, "binary": null, "fixed_binary": null,
 "ts_s": null, "ts_ms": null, "ts_us_ny": null, "ts_ns": null, "date32": null, "date64": null,
 "time32": null, "time64": null, "duration": null, "list": null, "large_list": null, "fixed_list": null,
 "struct": null, "map": null, "nested": [null, {"day": null, "v": 1e-7, "raw": null}], "dict": null, "dict_float": null},
{"null": null, "bool": true, "int8": 0, "int16": 0, "int32": 0, "int64": 0, "uint8": 1, "uint64": 1,
 "float16": 65504, "float32": 1e-45, "float64": 123456.789, "special": null, "decimal": "99999999.99",
 "string": "ends with space ", "large_string": " leading space", "string_view": "a string view longer than twelve bytes",
 "binary": "////", "fixed_binary": "YWI=", "ts_s": "2026-11-21T23:59:59Z", "ts_ms": "2026-11-21T23:59:59.999Z",
 "ts_us_ny": "2026-11-21T00:00:00Z", "ts_ns": -9223372036854775808, "date32": "2026-11-22",
 "date64": "2026-11-22", "time32": "23:59:59.999", "time64": "12:00:00", "duration": 0,
 "list": [5e-324], "large_list": [], "fixed_list": [4, 5], "struct": {"a": -1, "b": "", "at": "2026-11-21T10:00:00.5Z"},
 "map": [{"key": "a,b", "value": 2}], "nested": null, "dict": "run", "dict_float": -0.0}
]`

// record builds a record of schema from JSON rows.
func record(t testing.TB, mem memory.Allocator, schema *arrow.Schema, rows string) arrow.RecordBatch {
	t.Helper()
	rec, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(rows))
	if err != nil {
		t.Fatalf("record from JSON: %v", err)
	}
	return rec
}

var eventSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_ms},
	{Name: "user", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "value", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
}, nil)

// events returns JSON rows ids lo..hi-1 of eventSchema: users interleave, a day
// boundary falls after id 2, values and users have nulls, text needs quoting.
func events(lo, hi int) string {
	users := []string{"ann", "bob/b", "", "c;d"}
	var rows []string
	for i := lo; i < hi; i++ {
		user := fmt.Sprintf("%q", users[i%len(users)])
		if i%5 == 2 {
			user = "null"
		}
		value := fmt.Sprint(float64(i) * 1.5)
		if i%4 == 3 {
			value = "null"
		}
		ts := time.Date(2026, 11, 21, 23, 59, 57, 5e8, time.UTC).Add(time.Duration(i) * time.Second)
		rows = append(rows, fmt.Sprintf(`{"id": %d, "ts": %q, "user": %s, "value": %s}`,
			i, ts.Format(time.RFC3339Nano), user, value))
	}
	return "[" + strings.Join(rows, ",\n") + "]"
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		run  func(t *testing.T, mem memory.Allocator, s *files.Sink)
	}{
		{"types", DefaultConfig(), func(t *testing.T, mem memory.Allocator, s *files.Sink) {
			write(t, s, "types", "u", record(t, mem, typesSchema, typesRows))
			commit(t, s)
		}},
		{"delimiter_null", Config{PartitionBy: nil, Delimiter: ";", Null: `\N`, Header: true}, func(t *testing.T, mem memory.Allocator, s *files.Sink) {
			write(t, s, "events", "u", record(t, mem, eventSchema, events(0, 6)))
			commit(t, s)
		}},
		{"tab_no_header", Config{Delimiter: "\t", Null: "NULL"}, func(t *testing.T, mem memory.Allocator, s *files.Sink) {
			write(t, s, "events", "u", record(t, mem, eventSchema, events(0, 6)))
			commit(t, s)
		}},
		{"partition_stream", DefaultConfig(), func(t *testing.T, mem memory.Allocator, s *files.Sink) {
			write(t, s, "azumio.checkins.steps", "user/1", record(t, mem, eventSchema, events(0, 2)))
			write(t, s, "asi.computed", "timeframe/7", record(t, mem, eventSchema, events(2, 4)))
			write(t, s, "azumio.checkins.steps", "user/2", record(t, mem, eventSchema, events(4, 6)))
			commit(t, s)
		}},
		{"partition_column", Config{PartitionBy: []string{"stream", "user"}, Delimiter: ",", Header: true}, func(t *testing.T, mem memory.Allocator, s *files.Sink) {
			write(t, s, "events", "u", record(t, mem, eventSchema, events(0, 8)))
			commit(t, s)
		}},
		{"partition_date", Config{PartitionBy: []string{"unit", "date"}, Delimiter: ",", Header: true}, func(t *testing.T, mem memory.Allocator, s *files.Sink) {
			write(t, s, "events", "user/1", record(t, mem, eventSchema, events(0, 6)))
			commit(t, s)
		}},
		{"schema_change", DefaultConfig(), func(t *testing.T, mem memory.Allocator, s *files.Sink) {
			write(t, s, "events", "u", record(t, mem, eventSchema, events(0, 2)))
			narrow := arrow.NewSchema(eventSchema.Fields()[:2], nil)
			write(t, s, "events", "u", record(t, mem, narrow, `[{"id": 9, "ts": "2026-11-22T00:00:00Z"}]`))
			commit(t, s)
		}},
		{"roll_rows", Config{PartitionBy: []string{"stream"}, Delimiter: ",", Header: true, Roll: files.Roll{Rows: 2}}, func(t *testing.T, mem memory.Allocator, s *files.Sink) {
			commits := 0
			for i := range 5 {
				write(t, s, "events", "u", record(t, mem, eventSchema, events(i, i+1)))
				if s.CommitWanted() {
					commit(t, s)
					commits++
				}
			}
			commit(t, s)
			if commits != 2 {
				t.Errorf("got %d commits by roll, want 2", commits)
			}
			if got := s.Committed(); got != 3 {
				t.Errorf("Committed: got %d, want 3", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			tt.cfg.Path = t.TempDir()
			s, err := NewSink(tt.cfg, mem)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			tt.run(t, mem, s)
			got := dump(t, s.Root(), []rune(tt.cfg.Delimiter)[0])
			golden(t, filepath.Join("testdata", tt.name+".golden"), got)
		})
	}
}

func write(t *testing.T, s core.Sink, stream, unit string, rec arrow.RecordBatch) {
	t.Helper()
	defer rec.Release()
	if err := s.Write(context.Background(), core.Batch{Stream: stream, Unit: unit, Record: rec}); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func commit(t *testing.T, s core.Sink) []byte {
	t.Helper()
	txn, err := s.Prepare(context.Background())
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if err := s.Commit(context.Background(), txn); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return txn
}

var fileName = regexp.MustCompile(`^part-\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{8}-(\d{6})\.csv$`)

// committedFiles returns the committed CSV files under root, relative and
// slash-separated, in order of directory then sequence number. It skips
// hidden (temp) files, which readers skip too, and fails on any other file.
func committedFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		if !fileName.MatchString(d.Name()) {
			t.Errorf("unexpected file %s", rel)
			return nil
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		di, dj := filepath.Dir(out[i]), filepath.Dir(out[j])
		if di != dj {
			return di < dj
		}
		return fileName.FindStringSubmatch(filepath.Base(out[i]))[1] < fileName.FindStringSubmatch(filepath.Base(out[j]))[1]
	})
	return out
}

// dump renders every committed file under root for a golden file: a "==" line
// with its path (the name's time and token masked), then its contents. It also
// rereads every file with encoding/csv and checks each record has as many
// fields as the first.
func dump(t *testing.T, root string, comma rune) string {
	t.Helper()
	var b strings.Builder
	for _, rel := range committedFiles(t, root) {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		seq := fileName.FindStringSubmatch(filepath.Base(rel))[1]
		fmt.Fprintf(&b, "== %s/part-TIME-TOKEN-%s.csv\n%s", filepath.Dir(rel), seq, data)
		r := stdcsv.NewReader(strings.NewReader(string(data)))
		r.Comma = comma
		if _, err := r.ReadAll(); err != nil {
			t.Errorf("reread %s with encoding/csv: %v", rel, err)
		}
	}
	return b.String()
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("got:\n%s\nwant (%s):\n%s", got, path, want)
	}
}
