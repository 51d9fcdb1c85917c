package parquet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// azumioSchema is shaped like an Azumio check-in stream: 25 columns of ids,
// counters, measurements, timestamps, labels, a flag and two lists.
func azumioSchema() *arrow.Schema {
	ms := &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
	str, f64, i64, i32 := arrow.BinaryTypes.String, arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32
	return arrow.NewSchema([]arrow.Field{
		{Name: "source", Type: str},
		{Name: "stream", Type: str},
		{Name: "user_id", Type: str},
		{Name: "checkin_id", Type: str},
		{Name: "version", Type: i64},
		{Name: "type", Type: str},
		{Name: "created_at", Type: ms},
		{Name: "updated_at", Type: ms},
		{Name: "timestamp", Type: ms},
		{Name: "utc_offset_s", Type: i32, Nullable: true, Metadata: unit("s")},
		{Name: "value", Type: f64, Nullable: true},
		{Name: "value2", Type: f64, Nullable: true},
		{Name: "steps", Type: i64, Nullable: true, Metadata: unit("1")},
		{Name: "duration", Type: f64, Nullable: true, Metadata: unit("s")},
		{Name: "calories", Type: f64, Nullable: true, Metadata: unit("kcal")},
		{Name: "distance", Type: f64, Nullable: true, Metadata: unit("m")},
		{Name: "heart_rate", Type: i32, Nullable: true, Metadata: unit("1/min")},
		{Name: "hr_min", Type: i32, Nullable: true, Metadata: unit("1/min")},
		{Name: "hr_max", Type: i32, Nullable: true, Metadata: unit("1/min")},
		{Name: "note", Type: str, Nullable: true},
		{Name: "manual", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "device", Type: str, Nullable: true},
		{Name: "app_version", Type: str},
		{Name: "samples", Type: arrow.ListOf(f64), Nullable: true, Metadata: unit("1/min")},
		{Name: "tags", Type: arrow.ListOf(str), Nullable: true},
	}, nil)
}

// azumioRecords builds n rows of azumioSchema in batches of batch rows,
// deterministically.
func azumioRecords(mem memory.Allocator, n, batch int) []arrow.RecordBatch {
	r := rand.New(rand.NewPCG(1, 2))
	b := array.NewRecordBuilder(mem, azumioSchema())
	defer b.Release()
	types := []string{"steps", "heartrate", "sleeptime", "weight", "bloodpressure"}
	devices := []string{"iPhone15,2", "SM-G991B", "Pixel 8", "iPad13,4"}
	tags := []string{"morning", "run", "after-meal", "manual", "rest", "walk"}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	var out []arrow.RecordBatch
	for i := 0; i < n; i++ {
		user := r.IntN(1000)
		ts := arrow.Timestamp(start + int64(i)*1000 + int64(r.IntN(1000)))
		b.Field(0).(*array.StringBuilder).Append("azumio")
		b.Field(1).(*array.StringBuilder).Append("azumio.checkins.steps")
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("user-%06d", user))
		b.Field(3).(*array.StringBuilder).Append(fmt.Sprintf("c%010d", i))
		b.Field(4).(*array.Int64Builder).Append(int64(1 + r.IntN(3)))
		b.Field(5).(*array.StringBuilder).Append(types[r.IntN(len(types))])
		b.Field(6).(*array.TimestampBuilder).Append(ts - 5000)
		b.Field(7).(*array.TimestampBuilder).Append(ts + 1000)
		b.Field(8).(*array.TimestampBuilder).Append(ts)
		b.Field(9).(*array.Int32Builder).Append(int32(3600 * (r.IntN(5) - 2)))
		for j := 10; j <= 11; j++ {
			if r.IntN(10) == 0 {
				b.Field(j).AppendNull()
			} else {
				b.Field(j).(*array.Float64Builder).Append(r.Float64() * 200)
			}
		}
		b.Field(12).(*array.Int64Builder).Append(int64(r.IntN(20000)))
		b.Field(13).(*array.Float64Builder).Append(float64(r.IntN(7200)))
		b.Field(14).(*array.Float64Builder).Append(r.Float64() * 800)
		b.Field(15).(*array.Float64Builder).Append(r.Float64() * 15000)
		b.Field(16).(*array.Int32Builder).Append(int32(50 + r.IntN(120)))
		b.Field(17).(*array.Int32Builder).Append(int32(40 + r.IntN(30)))
		b.Field(18).(*array.Int32Builder).Append(int32(120 + r.IntN(80)))
		if r.IntN(20) == 0 {
			b.Field(19).(*array.StringBuilder).Append("felt great today")
		} else {
			b.Field(19).AppendNull()
		}
		b.Field(20).(*array.BooleanBuilder).Append(r.IntN(8) == 0)
		b.Field(21).(*array.StringBuilder).Append(devices[user%len(devices)])
		b.Field(22).(*array.StringBuilder).Append("7.12.3")
		sb := b.Field(23).(*array.ListBuilder)
		sb.Append(true)
		sv := sb.ValueBuilder().(*array.Float64Builder)
		for k, m := 0, r.IntN(12); k < m; k++ {
			sv.Append(float64(60 + r.IntN(100)))
		}
		tb := b.Field(24).(*array.ListBuilder)
		if r.IntN(4) == 0 {
			tb.AppendNull()
		} else {
			tb.Append(true)
			tv := tb.ValueBuilder().(*array.StringBuilder)
			for k, m := 0, r.IntN(3); k < m; k++ {
				tv.Append(tags[r.IntN(len(tags))])
			}
		}
		if (i+1)%batch == 0 || i == n-1 {
			out = append(out, b.NewRecordBatch())
		}
	}
	return out
}

// BenchmarkEncode encodes 1 Mi Azumio-like rows (25 columns, batches of 64Ki
// rows) into zstd Parquet with the default config and reports rows/s (wall
// clock), rows per CPU-second of the process (which a busy machine disturbs
// less), and bytes/row. With -cpu 1 it runs on one core; with more, Encode
// encodes columns on that many goroutines.
func BenchmarkEncode(b *testing.B) {
	benchmarkEncode(b, DefaultConfig())
}

// BenchmarkEncodeOptions is BenchmarkEncode with other codecs and without
// dictionaries, to show what each costs.
func BenchmarkEncodeOptions(b *testing.B) {
	for _, tc := range []struct {
		name string
		edit func(c *Config)
	}{
		{"zstd-3", func(c *Config) { c.CompressionLevel = 3 }},
		{"snappy", func(c *Config) { c.Compression = "snappy" }},
		{"none", func(c *Config) { c.Compression = "none" }},
		{"no-dictionary", func(c *Config) { c.Dictionary = false }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := DefaultConfig()
			tc.edit(&cfg)
			benchmarkEncode(b, cfg)
		})
	}
}

func benchmarkEncode(b *testing.B, cfg Config) {
	const rows = 1 << 20
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(b, 0)
	recs := azumioRecords(mem, rows, 64<<10)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	f, err := NewFormat(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	b.ResetTimer()
	cpu0 := processCPU()
	for b.Loop() {
		w := &countWriter{}
		enc, err := f.NewEncoder(w, azumioSchema())
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range recs {
			if err := enc.Encode(context.Background(), r); err != nil {
				b.Fatal(err)
			}
		}
		if err := enc.Close(); err != nil {
			b.Fatal(err)
		}
		size = w.n
	}
	cpu := processCPU() - cpu0
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	if cpu > 0 {
		b.ReportMetric(float64(rows)*float64(b.N)/cpu.Seconds(), "rows/cpu-s")
	}
	b.ReportMetric(float64(size)/rows, "bytes/row")
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}
