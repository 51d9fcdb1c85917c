package csv

import (
	"bytes"
	"context"
	stdcsv "encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/uuid"
)

func encode(t testing.TB, f *Format, recs ...arrow.RecordBatch) string {
	t.Helper()
	var buf bytes.Buffer
	enc, err := f.NewEncoder(&buf, recs[0].Schema())
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if err := enc.Encode(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func newFormat(t testing.TB, cfg Config) *Format {
	t.Helper()
	f, err := NewFormat(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Slices of a record (non-zero offsets in every array, children included)
// must format like the same rows of the whole record.
func TestSlicesFormatLikeTheWhole(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := record(t, mem, typesSchema, typesRows)
	defer rec.Release()
	cfg := DefaultConfig()
	cfg.Header = false
	f := newFormat(t, cfg)
	want := encode(t, f, rec)
	var slices []arrow.RecordBatch
	for i := range rec.NumRows() {
		s := rec.NewSlice(i, i+1)
		defer s.Release()
		slices = append(slices, s)
	}
	if got := encode(t, f, slices...); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// Values read back with encoding/csv are the values written.
func TestReread(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "text", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "float", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "int", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true},
	}, nil)
	const n = 3000 // more than one chunk
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", ",", ";", `"`, "\n", "\r\n", " ", "ü", "\t", `\N`, "x"}
	texts := make([]string, n)
	floats := make([]float64, n)
	ints := make([]int64, n)
	stamps := make([]int64, n)
	valid := make([]bool, n)
	specials := []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), math.SmallestNonzeroFloat64, math.MaxFloat64}
	for i := range n {
		var sb strings.Builder
		for range rng.IntN(6) {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		texts[i] = sb.String()
		floats[i] = math.Float64frombits(rng.Uint64())
		if i < len(specials) {
			floats[i] = specials[i]
		}
		ints[i] = int64(rng.Uint64())
		stamps[i] = rng.Int64N(1 << 52)
		valid[i] = rng.IntN(10) != 0
	}
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues(texts, valid)
	b.Field(1).(*array.Float64Builder).AppendValues(floats, valid)
	b.Field(2).(*array.Int64Builder).AppendValues(ints, valid)
	ts := b.Field(3).(*array.TimestampBuilder)
	for i, v := range stamps {
		ts.AppendValues([]arrow.Timestamp{arrow.Timestamp(v)}, []bool{valid[i]})
	}
	rec := b.NewRecordBatch()
	defer rec.Release()

	const null = `\N`
	out := encode(t, newFormat(t, Config{Delimiter: ";", Null: null, Header: true}), rec)
	r := stdcsv.NewReader(strings.NewReader(out))
	r.Comma = ';'
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(rows); got != n+1 {
		t.Fatalf("got %d records, want %d", got, n+1)
	}
	if got, want := strings.Join(rows[0], "|"), "text|float|int|ts"; got != want {
		t.Errorf("header: got %s, want %s", got, want)
	}
	for i, row := range rows[1:] {
		if !valid[i] {
			if got := strings.Join(row, "|"); got != `\N|\N|\N|\N` {
				t.Errorf("row %d: got %q, want all nulls", i, got)
			}
			continue
		}
		// encoding/csv reads \r\n inside a quoted field as \n.
		if want := strings.ReplaceAll(texts[i], "\r\n", "\n"); row[0] != want && texts[i] != null {
			t.Errorf("row %d text: got %q, want %q", i, row[0], want)
		}
		f, err := strconv.ParseFloat(row[1], 64)
		if err != nil || math.Float64bits(f) != math.Float64bits(floats[i]) && !(math.IsNaN(f) && math.IsNaN(floats[i])) {
			t.Errorf("row %d float: got %q (%v), want %v", i, row[1], err, floats[i])
		}
		if got, err := strconv.ParseInt(row[2], 10, 64); err != nil || got != ints[i] {
			t.Errorf("row %d int: got %q (%v), want %d", i, row[2], err, ints[i])
		}
		at, err := time.Parse(time.RFC3339Nano, row[3])
		if err != nil || at.UnixMicro() != stamps[i] || len(row[3]) != len("2006-01-02T15:04:05.000000Z") {
			t.Errorf("row %d ts: got %q (%v), want %s", i, row[3], err, time.UnixMicro(stamps[i]).UTC())
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	tests := []string{
		"", "plain", `quote " backslash \ slash /`, "\n\r\t\b\f\x00\x01\x1f\x7f",
		"<html> & ünïcödé ✓ 😀", "\u2028\u2029", "bad utf-8 \xff\xfe end", "\xc3",
	}
	for _, s := range tests {
		got := appendJSONString(nil, s)
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if w := strings.TrimSuffix(want.String(), "\n"); string(got) != w {
			t.Errorf("appendJSONString(%q): got %s, want %s (encoding/json)", s, got, w)
		}
	}
}

// Every nested value is valid JSON.
func TestNestedValuesAreJSON(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := record(t, mem, typesSchema, typesRows)
	defer rec.Release()
	r := stdcsv.NewReader(strings.NewReader(encode(t, newFormat(t, DefaultConfig()), rec)))
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for c, name := range rows[0] {
		switch rec.Schema().Field(c).Type.ID() {
		case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST, arrow.STRUCT, arrow.MAP:
		default:
			continue
		}
		for i, row := range rows[1:] {
			if row[c] != "" && !json.Valid([]byte(row[c])) {
				t.Errorf("row %d column %s: got %s, not valid JSON", i, name, row[c])
			}
		}
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write(p []byte) (int, error) { return 0, w.err }

func TestEncodeReportsWriteErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := record(t, mem, eventSchema, events(0, 3))
	defer rec.Release()
	full := errors.New("no space left on device")
	enc, err := newFormat(t, DefaultConfig()).NewEncoder(failingWriter{full}, rec.Schema())
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(context.Background(), rec); !errors.Is(err, full) {
		t.Errorf("Encode: got %v, want %v", err, full)
	}
	if err := enc.Close(); !errors.Is(err, full) {
		t.Errorf("Close: got %v, want %v", err, full)
	}
}

func TestEncodeStopsWhenCancelled(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := record(t, mem, eventSchema, events(0, 3))
	defer rec.Release()
	enc, err := newFormat(t, DefaultConfig()).NewEncoder(&bytes.Buffer{}, rec.Schema())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := enc.Encode(ctx, rec); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

// BenchmarkEncode reports rows/s and MB/s of CSV for a typical sensor batch.
func BenchmarkEncode(b *testing.B) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "unit", Type: arrow.BinaryTypes.String},
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_ms},
		{Name: "value", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "label", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
	const n = 65536
	mem := memory.NewGoAllocator()
	rb := array.NewRecordBuilder(mem, schema)
	start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC).UnixMilli()
	for i := range n {
		rb.Field(0).(*array.StringBuilder).Append("unit-0001")
		rb.Field(1).(*array.Int64Builder).Append(int64(i))
		rb.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(start + int64(i)*20))
		if i%10 == 0 {
			rb.Field(3).AppendNull()
		} else {
			rb.Field(3).(*array.Float64Builder).Append(float64(i) * 0.37)
		}
		rb.Field(4).(*array.StringBuilder).Append(fmt.Sprint("label ", i%7))
		rb.Field(5).(*array.BooleanBuilder).Append(i%3 == 0)
	}
	rec := rb.NewRecordBatch()
	rb.Release()
	defer rec.Release()
	f := newFormat(b, DefaultConfig())
	var size int64
	for b.Loop() {
		var w countWriter
		enc, _ := f.NewEncoder(&w, schema)
		if err := enc.Encode(context.Background(), rec); err != nil {
			b.Fatal(err)
		}
		enc.Close()
		size = int64(w)
	}
	b.SetBytes(size)
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}

type countWriter int64

func (w *countWriter) Write(p []byte) (int, error) { *w += countWriter(len(p)); return len(p), nil }

func TestTimestampFormat(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	edges := []int64{0, -1, 1, 86399, 86400, -86400, -86401, math.MaxInt64, math.MinInt64, 253402300799}
	for _, unit := range []arrow.TimeUnit{arrow.Second, arrow.Millisecond, arrow.Microsecond, arrow.Nanosecond} {
		f := newTimestampFormat(unit)
		values := append([]int64(nil), edges...)
		for range 2000 {
			// Mostly plausible times, some anywhere in int64 that time can format.
			v := rng.Int64N(4e9) * int64(time.Second/unit.Multiplier()) / 2
			if rng.IntN(4) == 0 && unit != arrow.Second {
				v = int64(rng.Uint64())
			}
			values = append(values, v, v+1, -v)
		}
		for _, v := range values {
			if unit == arrow.Second && (v > 253402300799 || v < -62135596800) {
				continue // years outside 1..9999
			}
			want := toTime(v, unit).Format(timestampLayouts[unit])
			if got := string(f.append(nil, v)); got != want {
				t.Errorf("%s %d: got %s, want %s", unit, v, got, want)
			}
		}
	}
}

func TestExtensionTypes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	uuidType := extensions.NewUUIDType()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: uuidType, Nullable: true},
		{Name: "ids", Type: arrow.ListOf(uuidType), Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	id := uuid.MustParse("123e4567-e89b-12d3-a456-426614174000")
	b.Field(0).(*extensions.UUIDBuilder).Append(id)
	b.Field(0).AppendNull()
	lb := b.Field(1).(*array.ListBuilder)
	lb.Append(true)
	lb.ValueBuilder().(*extensions.UUIDBuilder).Append(id)
	lb.ValueBuilder().AppendNull()
	lb.AppendNull()
	rec := b.NewRecordBatch()
	defer rec.Release()
	got := encode(t, newFormat(t, DefaultConfig()), rec)
	want := "id,ids\n" +
		`123e4567-e89b-12d3-a456-426614174000,"[""123e4567-e89b-12d3-a456-426614174000"",null]"` + "\n" +
		",\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
