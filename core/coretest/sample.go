package coretest

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
)

// SampleStream is the stream of the batches SampleBatches builds.
const SampleStream = "coretest.sample"

// SampleSchema is the schema of SampleBatches: a provenance column, an index,
// a UTC millisecond timestamp, a measurement with a unit in its field metadata,
// text with nulls and characters that need escaping, a bool and a list.
var SampleSchema = arrow.NewSchema([]arrow.Field{
	{Name: "unit", Type: arrow.BinaryTypes.String},
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_ms},
	{Name: "value", Type: arrow.PrimitiveTypes.Float64, Nullable: true,
		Metadata: arrow.NewMetadata([]string{"unit"}, []string{"m"})},
	{Name: "label", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "samples", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64), Nullable: true},
}, nil)

var sampleLabels = []string{"plain", "with, comma", `with "quotes"`, "ünïcödé", "line\nbreak", ""}

// SampleBatches returns n batches of rows rows each for unit, stream
// SampleStream, schema SampleSchema, built on mem; the caller owns them. Row
// values depend only on (unit, row index), so two calls give equal batches.
// Batch i has as Position the index of the row after it, as 8 big-endian bytes.
func SampleBatches(mem memory.Allocator, unit string, n, rows int) []core.Batch {
	start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	b := array.NewRecordBuilder(mem, SampleSchema)
	defer b.Release()
	out := make([]core.Batch, 0, n)
	for i := range n {
		for r := range rows {
			row := int64(i*rows + r)
			b.Field(0).(*array.StringBuilder).Append(unit)
			b.Field(1).(*array.Int64Builder).Append(row)
			b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(start.Add(time.Duration(row) * 1500 * time.Millisecond).UnixMilli()))
			if row%7 == 3 {
				b.Field(3).AppendNull()
			} else {
				b.Field(3).(*array.Float64Builder).Append(float64(row)*0.25 - 10)
			}
			if row%5 == 4 {
				b.Field(4).AppendNull()
			} else {
				b.Field(4).(*array.StringBuilder).Append(fmt.Sprintf("%s %d", sampleLabels[row%int64(len(sampleLabels))], row))
			}
			b.Field(5).(*array.BooleanBuilder).Append(row%3 == 0)
			lb := b.Field(6).(*array.ListBuilder)
			if row%11 == 10 {
				lb.AppendNull()
			} else {
				lb.Append(true)
				vb := lb.ValueBuilder().(*array.Float64Builder)
				for e := range row % 4 {
					vb.Append(float64(row) + float64(e)/10)
				}
			}
		}
		out = append(out, core.Batch{
			Stream:   SampleStream,
			Unit:     unit,
			Record:   b.NewRecordBatch(),
			Position: binary.BigEndian.AppendUint64(nil, uint64((i+1)*rows)),
		})
	}
	return out
}
