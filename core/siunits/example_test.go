package siunits_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/siunits"
)

// A steps check-in as the Azumio source emits it: times in UNIX milliseconds,
// the user's UTC offset in hours, energy in kilocalories.
func checkin() arrow.RecordBatch {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "timestamp", Type: arrow.PrimitiveTypes.Int64},
		{Name: "timezone", Type: arrow.PrimitiveTypes.Float64},
		{Name: "distance", Type: arrow.PrimitiveTypes.Float64},
		{Name: "calories", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, schema, strings.NewReader(
		`[{"timestamp": 1391648696402, "timezone": -8, "distance": 4271.9215087890625, "calories": 1.5}]`))
	if err != nil {
		panic(err)
	}
	return rec
}

func Example() {
	tr, err := siunits.New(siunits.DefaultConfig(), nil, nil)
	if err != nil {
		panic(err)
	}
	in := core.Batch{Stream: "azumio.checkins.steps", Unit: "user/10001", Record: checkin()}
	err = tr.Apply(context.Background(), in, func(_ context.Context, out core.Batch) error {
		defer out.Release()
		for i, f := range out.Record.Schema().Fields() {
			unit, _ := f.Metadata.GetValue("unit")
			fmt.Printf("%-12s %-24s unit=%-2s %s\n", f.Name, f.Type, unit, out.Record.Column(i).ValueStr(0))
		}
		return nil
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// timestamp    timestamp[ms, tz=UTC]    unit=   2014-02-06T01:04:56.402Z
	// utc_offset_s int32                    unit=s  -28800
	// distance     float64                  unit=m  4271.9215087890625
	// calories     float64                  unit=J  6276
}

// The local date of a check-in is its instant moved by its UTC offset: this
// one was recorded on 6 February in UTC, which was still the 5th in the user's
// time zone (UTC-8).
func Example_localDate() {
	tr, err := siunits.New(siunits.DefaultConfig(), nil, nil)
	if err != nil {
		panic(err)
	}
	in := core.Batch{Stream: "azumio.checkins.steps", Record: checkin()}
	err = tr.Apply(context.Background(), in, func(_ context.Context, out core.Batch) error {
		defer out.Release()
		ts := out.Record.Column(0).(*array.Timestamp)
		offset := out.Record.Column(1).(*array.Int32)
		for i := range ts.Len() {
			instant := ts.Value(i).ToTime(arrow.Millisecond)
			local := instant.Add(time.Duration(offset.Value(i)) * time.Second)
			fmt.Println("UTC date:", instant.Format(time.DateOnly), "local date:", local.Format(time.DateOnly))
		}
		return nil
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// UTC date: 2014-02-06 local date: 2014-02-05
}

func ExampleFactor() {
	for _, c := range [][2]string{{"kcal", "J"}, {"ms", "s"}, {"km/h", "m/s"}, {"mi", "m"}} {
		num, den, err := siunits.Factor(c[0], c[1])
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s → %s: × %d ÷ %d\n", c[0], c[1], num, den)
	}
	// Output:
	// kcal → J: × 4184 ÷ 1
	// ms → s: × 1 ÷ 1000
	// km/h → m/s: × 5 ÷ 18
	// mi → m: × 201168 ÷ 125
}
