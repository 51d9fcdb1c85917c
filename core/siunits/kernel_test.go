package siunits

import (
	"math"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
)

// TestInstantsFromFloats checks values that JSON cannot carry: NaN and
// infinities become null, so do instants out of the int64 range, and halves
// round away from zero on the exact product.
func TestInstantsFromFloats(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in := []float64{1597924127900.5, math.NaN(), math.Inf(1), -0.0005, 1e300, 1597924127900.50048828125, 0, -1.5}
	valid := []bool{true, true, true, true, true, true, false, true}
	want := []int64{1597924127900500, 0, 0, -1, 0, 1597924127900500, 0, -1500}
	wantValid := []bool{true, false, false, true, false, true, false, true}

	b := array.NewFloat64Builder(mem)
	b.AppendValues(in, valid)
	arr := b.NewFloat64Array()
	b.Release()
	defer arr.Release()

	c, err := instantConv(unitByName["ms"], arr.DataType())
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.apply(mem, arr.Data())
	if err != nil {
		t.Fatal(err)
	}
	got := array.NewTimestampData(d)
	d.Release()
	defer got.Release()
	if got.NullN() != 4 {
		t.Errorf("got %d nulls, want 4", got.NullN())
	}
	for i := range want {
		if got.IsValid(i) != wantValid[i] || (wantValid[i] && int64(got.Value(i)) != want[i]) {
			t.Errorf("value %d (%v): got %d valid=%v, want %d valid=%v", i, in[i], got.Value(i), got.IsValid(i), want[i], wantValid[i])
		}
	}
	if !arr.IsValid(1) {
		t.Error("input: got value 1 null after the conversion, want the input's bitmap unchanged")
	}
}

// TestSlicedInput converts a record that is a slice of a larger one (offsets
// into its buffers, in the columns, lists and structs), as a source that emits
// slices of a page would.
func TestSlicedInput(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		field("calories", f64),
		field("modified", i64),
		field("timezone", arrow.PrimitiveTypes.Int8),
		field("gnss", arrow.StructOf(field("speed", f64s), withUnitMeta(field("altitude", arrow.PrimitiveTypes.Float32), "ft"))),
	}, nil)
	full := recordFromJSON(t, mem, schema, `[
		{"calories": 1, "modified": 1, "timezone": 1, "gnss": {"speed": [1], "altitude": 1}},
		{"calories": null, "modified": null, "timezone": null, "gnss": null},
		{"calories": 2, "modified": 2000, "timezone": -3, "gnss": {"speed": [2, null], "altitude": 1250}},
		{"calories": 3, "modified": 3000, "timezone": 2, "gnss": {"speed": null, "altitude": null}},
		{"calories": 4, "modified": 4, "timezone": 4, "gnss": {"speed": [4], "altitude": 4}}]`)
	rec := full.NewSlice(1, 4)
	full.Release()

	tr := newTestTransform(t, "", mem, nil)
	out, err := applyOne(t, tr, core.Batch{Stream: "asi.preprocessed", Unit: "u", Record: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if err := validRecord(out.Record); err != nil {
		t.Fatal(err)
	}
	// asi.preprocessed has no calories, modified or timezone: only gnss.altitude
	// (by its metadata) and gnss.speed (by the catalogue) change.
	want := `{"calories": null, "modified": null, "timezone": null, "gnss": null}
		{"calories": 2, "modified": 2000, "timezone": -3, "gnss": {"speed": [2, null], "altitude": 381}}
		{"calories": 3, "modified": 3000, "timezone": 2, "gnss": {"speed": null, "altitude": null}}`
	if got := rowsJSON(t, out.Record); !sameRows(t, got, want) {
		t.Errorf("got rows\n%s\nwant\n%s", got, want)
	}

	// The same slice as an Azumio check-in: every column converts.
	full = recordFromJSON(t, mem, schema, `[
		{"calories": 1, "modified": 1, "timezone": 1},
		{"calories": null, "modified": null, "timezone": null},
		{"calories": 2, "modified": 2000, "timezone": -3},
		{"calories": 0.5, "modified": 3000, "timezone": 2}]`)
	rec = full.NewSlice(1, 4)
	full.Release()
	out2, err := applyOne(t, tr, core.Batch{Stream: "azumio.checkins.steps", Unit: "u", Record: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer out2.Release()
	if err := validRecord(out2.Record); err != nil {
		t.Fatal(err)
	}
	want = `{"calories": null, "modified": null, "utc_offset_s": null, "gnss": null}
		{"calories": 8368, "modified": "1970-01-01T00:00:02Z", "utc_offset_s": -10800, "gnss": null}
		{"calories": 2092, "modified": "1970-01-01T00:00:03Z", "utc_offset_s": 7200, "gnss": null}`
	if got := rowsJSON(t, out2.Record); !sameRows(t, got, want) {
		t.Errorf("got rows\n%s\nwant\n%s", got, want)
	}
}

// TestEveryNumberType converts 3 (and null) of every numeric Arrow type, and
// lists of each kind, from km to m.
func TestEveryNumberType(t *testing.T) {
	types := []arrow.DataType{
		arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64,
		arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64,
		arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64,
		arrow.LargeListOf(arrow.PrimitiveTypes.Int32), arrow.FixedSizeListOf(1, arrow.PrimitiveTypes.Float32),
	}
	for _, typ := range types {
		t.Run(typ.String(), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			schema := arrow.NewSchema([]arrow.Field{withUnitMeta(field("d", typ), "km")}, nil)
			rows, want := `[{"d": 3}, {"d": null}]`, `{"d": 3000}`+"\n"+`{"d": null}`
			if _, ok := typ.(arrow.ListLikeType); ok {
				rows, want = `[{"d": [3]}, {"d": null}]`, `{"d": [3000]}`+"\n"+`{"d": null}`
			}
			rec := recordFromJSON(t, mem, schema, rows)
			tr := newTestTransform(t, "", mem, nil)
			out, err := applyOne(t, tr, core.Batch{Stream: "s", Record: rec})
			if err != nil {
				t.Fatal(err)
			}
			defer out.Release()
			if err := validRecord(out.Record); err != nil {
				t.Fatal(err)
			}
			if got := leafType(out.Record.Schema().Field(0).Type); got.ID() != arrow.FLOAT64 {
				t.Errorf("got values of type %s, want float64", got)
			}
			if got := rowsJSON(t, out.Record); !sameRows(t, got, want) {
				t.Errorf("got rows\n%s\nwant\n%s", got, want)
			}
		})
	}
}
