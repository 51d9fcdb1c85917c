package flight_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sinks/flight"
)

// allTypes is a schema with every type the parquet sink supports, with nulls
// where nullable and a unit in field metadata, as sources produce them.
var allTypes = arrow.NewSchema([]arrow.Field{
	{Name: "user_id", Type: arrow.BinaryTypes.String},
	{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
	{Name: "i16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "i64", Type: arrow.PrimitiveTypes.Int64},
	{Name: "u8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
	{Name: "u16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
	{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
	{Name: "u64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "speed", Type: arrow.PrimitiveTypes.Float64, Nullable: true, Metadata: arrow.NewMetadata([]string{"unit"}, []string{"m/s"})},
	{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "large_s", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "large_bin", Type: arrow.BinaryTypes.LargeBinary, Nullable: true},
	{Name: "ts_s", Type: &arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"}, Nullable: true},
	{Name: "ts_ms", Type: arrow.FixedWidthTypes.Timestamp_ms},
	{Name: "ts_us", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
	{Name: "ts_ns", Type: arrow.FixedWidthTypes.Timestamp_ns, Nullable: true},
	{Name: "d32", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "d64", Type: arrow.FixedWidthTypes.Date64, Nullable: true},
	{Name: "samples", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
	{Name: "tags", Type: arrow.LargeListOf(arrow.BinaryTypes.String), Nullable: true},
	{Name: "accel", Type: arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float64), Nullable: true},
	{Name: "position", Type: arrow.StructOf(
		arrow.Field{Name: "lat", Type: arrow.PrimitiveTypes.Float64, Nullable: true, Metadata: arrow.NewMetadata([]string{"unit"}, []string{"deg"})},
		arrow.Field{Name: "lon", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	), Nullable: true},
	{Name: "kind", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, Nullable: true},
}, &schemaMetadata)

var schemaMetadata = arrow.NewMetadata([]string{"source"}, []string{"test"})

// typedBatch builds rows rows of allTypes starting at row number first.
func typedBatch(mem memory.Allocator, first, rows int) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, allTypes)
	defer b.Release()
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	for r := first; r < first+rows; r++ {
		null := r%9 == 4
		ts := t0.Add(time.Duration(r) * 1234567 * time.Microsecond)
		appendOrNull := func(i int, fn func()) {
			if null && allTypes.Field(i).Nullable {
				b.Field(i).AppendNull()
				return
			}
			fn()
		}
		b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("user-%d", r%17))
		appendOrNull(1, func() { b.Field(1).(*array.Int8Builder).Append(int8(r)) })
		appendOrNull(2, func() { b.Field(2).(*array.Int16Builder).Append(int16(r * 3)) })
		appendOrNull(3, func() { b.Field(3).(*array.Int32Builder).Append(int32(-r)) })
		b.Field(4).(*array.Int64Builder).Append(int64(r) << 33)
		appendOrNull(5, func() { b.Field(5).(*array.Uint8Builder).Append(uint8(r)) })
		appendOrNull(6, func() { b.Field(6).(*array.Uint16Builder).Append(uint16(r)) })
		appendOrNull(7, func() { b.Field(7).(*array.Uint32Builder).Append(uint32(r) * 7) })
		appendOrNull(8, func() { b.Field(8).(*array.Uint64Builder).Append(uint64(r) << 40) })
		appendOrNull(9, func() { b.Field(9).(*array.Float32Builder).Append(float32(r) / 3) })
		appendOrNull(10, func() { b.Field(10).(*array.Float64Builder).Append(float64(r) * 0.125) })
		appendOrNull(11, func() { b.Field(11).(*array.BooleanBuilder).Append(r%2 == 0) })
		appendOrNull(12, func() { b.Field(12).(*array.LargeStringBuilder).Append(fmt.Sprintf("ünïcödé, \"quoted\"\n%d", r)) })
		appendOrNull(13, func() { b.Field(13).(*array.BinaryBuilder).Append([]byte{byte(r), 0, 0xff}) })
		appendOrNull(14, func() { b.Field(14).(*array.BinaryBuilder).Append([]byte(fmt.Sprint(r))) })
		appendOrNull(15, func() { b.Field(15).(*array.TimestampBuilder).Append(arrow.Timestamp(ts.Unix())) })
		b.Field(16).(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMilli()))
		appendOrNull(17, func() { b.Field(17).(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMicro())) })
		appendOrNull(18, func() { b.Field(18).(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixNano())) })
		appendOrNull(19, func() { b.Field(19).(*array.Date32Builder).Append(arrow.Date32FromTime(ts)) })
		appendOrNull(20, func() { b.Field(20).(*array.Date64Builder).Append(arrow.Date64FromTime(ts.Truncate(24 * time.Hour))) })
		appendOrNull(21, func() {
			lb := b.Field(21).(*array.ListBuilder)
			lb.Append(true)
			for e := range r % 5 {
				if e == 2 {
					lb.ValueBuilder().AppendNull()
				} else {
					lb.ValueBuilder().(*array.Int32Builder).Append(int32(r + e))
				}
			}
		})
		appendOrNull(22, func() {
			lb := b.Field(22).(*array.LargeListBuilder)
			lb.Append(true)
			for e := range r % 3 {
				lb.ValueBuilder().(*array.StringBuilder).Append(fmt.Sprintf("tag%d", e))
			}
		})
		appendOrNull(23, func() {
			lb := b.Field(23).(*array.FixedSizeListBuilder)
			lb.Append(true)
			for e := range 3 {
				lb.ValueBuilder().(*array.Float64Builder).Append(float64(r) + float64(e)/10)
			}
		})
		appendOrNull(24, func() {
			sb := b.Field(24).(*array.StructBuilder)
			sb.Append(true)
			sb.FieldBuilder(0).(*array.Float64Builder).Append(46 + float64(r)/1e4)
			if r%5 == 0 {
				sb.FieldBuilder(1).AppendNull()
			} else {
				sb.FieldBuilder(1).(*array.Float64Builder).Append(14 + float64(r)/1e4)
			}
		})
		appendOrNull(25, func() {
			if err := b.Field(25).(*array.BinaryDictionaryBuilder).AppendString([]string{"walk", "run", "ride"}[r%3]); err != nil {
				panic(err)
			}
		})
	}
	return b.NewRecordBatch()
}

// TestTypesArriveIntact sends batches of every type the parquet sink supports
// to a Flight server and compares what it received, schema (with field
// metadata) and values, with what was sent: whole, compressed, and split by
// bytes and by rows.
func TestTypesArriveIntact(t *testing.T) {
	const limit = 96 << 10 // small, so that the 3000-row batch must be split
	tests := []struct {
		name        string
		compression string
		batchRows   int64
		wantSplit   bool
	}{
		{"plain", "none", 0, true},
		{"lz4", "lz4", 0, true},
		{"zstd", "zstd", 0, true},
		{"batch_rows", "none", 70, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			srv, addr := serveCapture(t, mem, grpc.MaxRecvMsgSize(limit))
			s := newSink(t, addr, mem, func(c *flight.Config) {
				c.Compression, c.BatchRows, c.MaxMessageBytes = tt.compression, tt.batchRows, limit
			})
			var want []arrow.RecordBatch
			defer func() { release(want) }()
			first := 0
			for _, rows := range []int{1, 200, 3000, 37} {
				rec := typedBatch(mem, first, rows)
				first += rows
				err := s.Write(context.Background(), core.Batch{Stream: "typed", Unit: "u1", Record: rec, Position: []byte(fmt.Sprint(first))})
				want = append(want, rec)
				if err != nil {
					t.Fatalf("Write: %v", err)
				}
			}
			if _, err := s.Prepare(context.Background()); err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			got := srv.records()
			if tt.wantSplit && len(got) <= len(want) {
				t.Errorf("got %d messages for %d batches, want more (split)", len(got), len(want))
			}
			if srv.maxMsg > limit {
				t.Errorf("got a message of %d bytes, want at most %d", srv.maxMsg, limit)
			}
			if tt.batchRows > 0 {
				for _, r := range got {
					if r.NumRows() > tt.batchRows {
						t.Errorf("got a message of %d rows, want at most batch_rows %d", r.NumRows(), tt.batchRows)
					}
				}
			}
			sameRows(t, mem, got, want)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			srv.close()
		})
	}
}
