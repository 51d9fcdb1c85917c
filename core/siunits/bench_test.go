package siunits

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/etl-toolkit/etl/core"
)

const benchRows = 1 << 16

// benchColumn returns benchRows float64 values, every 100th null.
func benchColumn(mem memory.Allocator) *array.Float64 {
	b := array.NewFloat64Builder(mem)
	defer b.Release()
	b.Reserve(benchRows)
	for i := range benchRows {
		if i%100 == 99 {
			b.AppendNull()
			continue
		}
		b.UnsafeAppend(float64(i) * 0.37)
	}
	return b.NewFloat64Array()
}

// BenchmarkConvertFloat64 measures the transform's Apply on batches of one
// float64 column of 65,536 values (1% null), in values per second: a
// multiplication (kcal→J), a division (ms→s), both (km/h→m/s), and, for
// comparison, arrow-go's compute kernels doing kcal→J and km/h→m/s.
func BenchmarkConvertFloat64(b *testing.B) {
	cases := []struct {
		name, stream, field, unit, config string
	}{
		{"kcal_to_J", "azumio.checkins.steps", "calories", "", ""},
		{"ms_to_s", "other", "elapsed", "ms", ""},
		{"km_h_to_m_s", "asi.computed", "max_speed", "", "fields: {max_speed: {from: km/h}}"},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			mem := memory.NewGoAllocator()
			col := benchColumn(mem)
			defer col.Release()
			f := arrow.Field{Name: bc.field, Type: arrow.PrimitiveTypes.Float64, Nullable: true}
			if bc.unit != "" {
				f = withUnitMeta(f, bc.unit)
			}
			rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{f}, nil), []arrow.Array{col}, benchRows)
			defer rec.Release()
			cfg := DefaultConfig()
			if bc.config != "" {
				cfg = decodeConfig(b, bc.config)
			}
			tr, err := New(cfg, mem, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			emit := func(_ context.Context, out core.Batch) error {
				out.Release()
				return nil
			}
			b.SetBytes(benchRows * 8)
			b.ResetTimer()
			for b.Loop() {
				rec.Retain()
				if err := tr.Apply(ctx, core.Batch{Stream: bc.stream, Unit: "u", Record: rec}, emit); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "values/s")
		})
	}

	// arrow-go's compute package, for comparison with the hand-written kernels.
	for _, bc := range []struct {
		name     string
		num, den float64
	}{{"arrow_compute_kcal_to_J", 4184, 1}, {"arrow_compute_km_h_to_m_s", 5, 18}} {
		b.Run(bc.name, func(b *testing.B) {
			mem := memory.NewGoAllocator()
			col := benchColumn(mem)
			defer col.Release()
			ctx := compute.WithAllocator(context.Background(), mem)
			opts := compute.ArithmeticOptions{NoCheckOverflow: true}
			b.SetBytes(benchRows * 8)
			b.ResetTimer()
			for b.Loop() {
				out, err := compute.Multiply(ctx, opts, compute.NewDatum(col), compute.NewDatum(scalar.NewFloat64Scalar(bc.num)))
				if err != nil {
					b.Fatal(err)
				}
				if bc.den != 1 {
					q, err := compute.Divide(ctx, opts, out, compute.NewDatum(scalar.NewFloat64Scalar(bc.den)))
					out.Release()
					if err != nil {
						b.Fatal(err)
					}
					out = q
				}
				out.Release()
			}
			b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "values/s")
		})
	}
}
