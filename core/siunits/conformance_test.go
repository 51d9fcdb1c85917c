package siunits

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
)

// TestConformance runs core's transform conformance suite over the suite's
// sample batches (whose value column has unit m and gets a suffix) and Azumio
// check-ins of two users, interleaved as the runner would feed them.
func TestConformance(t *testing.T) {
	coretest.Transform(t, func(t *testing.T, mem memory.Allocator, _ core.DeadLetters) core.Transform {
		return newTestTransform(t, "suffix: true\nfields: {calories: {keep: kcal}}", mem, nil)
	}, func(mem memory.Allocator) []core.Batch {
		var in []core.Batch
		a := coretest.SampleBatches(mem, "user/1", 3, 50)
		b := coretest.SampleBatches(mem, "user/2", 2, 20)
		for i := range a {
			in = append(in, a[i], checkins(t, mem, "user/1", i))
			if i < len(b) {
				in = append(in, b[i], checkins(t, mem, "user/2", i))
			}
		}
		return in
	}, coretest.TransformOptions{})
}

var checkinSchema = arrow.NewSchema([]arrow.Field{
	field("id", str), field("modified", i64), field("timezone", f64),
	withUnitMeta(field("distance", f64), "m"), field("calories", f64),
}, nil)

// checkins returns a batch of three steps check-ins of unit, the i-th of its
// stream, with a position of its own.
func checkins(t *testing.T, mem memory.Allocator, unit string, i int) core.Batch {
	rec, _, err := array.RecordFromJSON(mem, checkinSchema, strings.NewReader(`[
		{"id": "1", "modified": 1391651101440, "timezone": -8, "distance": 4271.9215087890625, "calories": 1708.740724224521},
		{"id": "2", "modified": null, "timezone": null, "distance": null, "calories": null},
		{"id": "3", "modified": 1391651101441, "timezone": 5.5, "distance": 0, "calories": 0.1}]`))
	if err != nil {
		t.Fatal(err)
	}
	return core.Batch{Stream: "azumio.checkins.steps", Unit: unit, Record: rec,
		Position: binary.BigEndian.AppendUint64([]byte("checkins"), uint64(i))}
}

// TestUnknownUnitWarns checks that a field whose unit metadata si_units does
// not know is left as it is, with one warning per schema, not per batch.
func TestUnknownUnitWarns(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var logs bytes.Buffer
	tr := newTestTransform(t, "", mem, slog.New(slog.NewTextHandler(&logs, nil)))
	schema := arrow.NewSchema([]arrow.Field{withUnitMeta(field("distance", f64), "furlong")}, nil)
	for range 3 {
		rec := recordFromJSON(t, mem, schema, `[{"distance": 1}]`)
		out, err := applyOne(t, tr, core.Batch{Stream: "azumio.checkins.steps", Record: rec})
		if err != nil {
			t.Fatal(err)
		}
		if out.Record != rec {
			t.Errorf("got schema\n%s\nwant the input record unchanged", describeSchema(out.Record.Schema()))
		}
		out.Release()
	}
	want := `level=WARN msg="si_units: field distance has unit \"furlong\" in its metadata, which si_units does not know (known units: m, km, cm, mm, mi, ft, m/s, km/h, mph, m/s², s, ms, us, min, h, kg, g, lb, J, kJ, cal, kcal, Hz, 1/min, deg, W, kW, 1, %); left as it is" stream=azumio.checkins.steps`
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 || !strings.HasSuffix(lines[0], want) {
		t.Errorf("got log\n%s\nwant one line ending in\n%s", logs.String(), want)
	}
}
