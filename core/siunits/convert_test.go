package siunits

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
)

// TestConvert runs one batch per case through the transform and checks the
// output schema (names, types, nullability, unit metadata) and every value
// exactly: a number is compared as the float64 it denotes.
func TestConvert(t *testing.T) {
	accel := arrow.StructOf(
		field("threshold", f64),
		field("values", f64s),
	)
	tests := []struct {
		name   string
		stream string
		config string // YAML of the config section
		schema *arrow.Schema
		in     string // JSON array of rows
		// wantSchema is describeSchema of the output; wantRows its rows, one
		// JSON object a line.
		wantSchema string
		wantRows   string
	}{
		{
			name:   "kcal to J from the catalogue",
			stream: "azumio.checkins.steps",
			schema: arrow.NewSchema([]arrow.Field{field("calories", f64)}, nil),
			in:     `[{"calories": 1.5}, {"calories": null}, {"calories": 0.1}, {"calories": 1708.740724224521}]`,
			// 0.1 is not exactly a tenth; × 4184 rounds to the float64 nearest
			// the exact product, which prints as 418.40000000000003.
			wantSchema: "calories: float64 {unit=J}\n",
			wantRows: `{"calories": 6276}
				{"calories": null}
				{"calories": 418.40000000000003}
				{"calories": 7149371.190155396}`,
		},
		{
			name:       "energy option kcal keeps the values",
			stream:     "azumio.checkins.steps",
			config:     "energy: kcal",
			schema:     arrow.NewSchema([]arrow.Field{field("calories", f64)}, nil),
			in:         `[{"calories": 1708.740724224521}, {"calories": null}]`,
			wantSchema: "calories: float64 {unit=kcal}\n",
			wantRows:   `{"calories": 1708.740724224521}` + "\n" + `{"calories": null}`,
		},
		{
			name:       "metadata unit wins over the catalogue; integers become float64",
			stream:     "azumio.checkins.steps",
			schema:     arrow.NewSchema([]arrow.Field{withUnitMeta(field("activeDuration", i64), "min")}, nil),
			in:         `[{"activeDuration": 1}, {"activeDuration": null}, {"activeDuration": 52}]`,
			wantSchema: "activeDuration: float64 {unit=s}\n",
			wantRows:   `{"activeDuration": 60}` + "\n" + `{"activeDuration": null}` + "\n" + `{"activeDuration": 3120}`,
		},
		{
			name:       "a field already in SI keeps its type and values",
			stream:     "azumio.checkins.steps",
			schema:     arrow.NewSchema([]arrow.Field{field("activeDuration", i64), field("steps", f64)}, nil),
			in:         `[{"activeDuration": 3141, "steps": 5883.272369384766}]`,
			wantSchema: "activeDuration: int64 {unit=s}\nsteps: float64 {unit=1}\n",
			wantRows:   `{"activeDuration": 3141, "steps": 5883.272369384766}`,
		},
		{
			name:       "metadata alone converts a field of any stream",
			stream:     "somewhere.else",
			schema:     arrow.NewSchema([]arrow.Field{withUnitMeta(field("elapsed", i64), "ms"), field("plain", f64)}, nil),
			in:         `[{"elapsed": 1500, "plain": 2.5}, {"elapsed": 1, "plain": null}]`,
			wantSchema: "elapsed: float64 {unit=s}\nplain: float64\n",
			wantRows:   `{"elapsed": 1.5, "plain": 2.5}` + "\n" + `{"elapsed": 0.001, "plain": null}`,
		},
		{
			name:       "override from: km/h is × 5 ÷ 18",
			stream:     "asi.computed",
			config:     "fields: {max_speed: {from: km/h}}",
			schema:     arrow.NewSchema([]arrow.Field{field("max_speed", f64), field("average_speed", f64)}, nil),
			in:         `[{"max_speed": 36, "average_speed": 0.20038889929742307}, {"max_speed": 3.6, "average_speed": 1}]`,
			wantSchema: "max_speed: float64 {unit=m/s}\naverage_speed: float64 {unit=m/s}\n",
			wantRows: `{"max_speed": 10, "average_speed": 0.20038889929742307}
				{"max_speed": 1, "average_speed": 1}`,
		},
		{
			name:       "override to: J to kJ, stream-specific key",
			stream:     "azumio.checkins.steps",
			config:     "fields: {'azumio.checkins.steps:basalCalories': {to: kJ}, basalCalories: {to: kcal}}",
			schema:     arrow.NewSchema([]arrow.Field{field("basalCalories", f64)}, nil),
			in:         `[{"basalCalories": 1.5}]`,
			wantSchema: "basalCalories: float64 {unit=kJ}\n",
			wantRows:   `{"basalCalories": 6.276}`,
		},
		{
			name:   "the most specific override wins",
			stream: "azumio.checkins.steps",
			config: "fields: {'azumio.checkins.*:calories': {to: kJ}, 'azumio.checkins.steps:calories': {to: kcal}, calories: {to: cal}, " +
				"'*Calories': {to: kJ}, walkCalories: {to: cal}}",
			schema:     arrow.NewSchema([]arrow.Field{field("calories", f64), field("walkCalories", f64), field("basalCalories", f64)}, nil),
			in:         `[{"calories": 1.5, "walkCalories": 1.5, "basalCalories": 1.5}]`,
			wantSchema: "calories: float64 {unit=kcal}\nwalkCalories: float64 {unit=cal}\nbasalCalories: float64 {unit=kJ}\n",
			wantRows:   `{"calories": 1.5, "walkCalories": 1500, "basalCalories": 6.276}`,
		},
		{
			name:   "instants: int64 ms retyped, float ms rounded to µs",
			stream: "asi.computed",
			schema: arrow.NewSchema([]arrow.Field{
				{Name: "last_timestamp", Type: f64},
				withUnitMeta(field("created", i64), "ms"),
			}, nil),
			in: `[{"last_timestamp": 1597924127900.0, "created": 1391587206242},
				{"last_timestamp": 1597924127900.5004, "created": null}]`,
			wantSchema: "last_timestamp: timestamp[us, tz=UTC]\ncreated: float64 {unit=s}\n",
			wantRows: `{"last_timestamp": "2020-08-20T11:48:47.9Z", "created": 1391587206.242}
				{"last_timestamp": "2020-08-20T11:48:47.9005Z", "created": null}`,
		},
		{
			name:   "azumio times and timezone",
			stream: "azumio.checkins.steps",
			schema: arrow.NewSchema([]arrow.Field{
				withUnitMeta(field("timestamp", i64), "ms"),
				field("start", i64),
				field("timezone", f64),
			}, nil),
			in: `[{"timestamp": 1391648696402, "start": 1391587200000, "timezone": -8},
				{"timestamp": null, "start": 0, "timezone": 5.5},
				{"timestamp": 1, "start": -1, "timezone": 5.75},
				{"timestamp": 2, "start": 2, "timezone": null}]`,
			wantSchema: "timestamp: timestamp[ms, tz=UTC]\nstart: timestamp[ms, tz=UTC]\nutc_offset_s: int32 {unit=s}\n",
			wantRows: `{"timestamp": "2014-02-06T01:04:56.402Z", "start": "2014-02-05T08:00:00Z", "utc_offset_s": -28800}
				{"timestamp": null, "start": "1970-01-01T00:00:00Z", "utc_offset_s": 19800}
				{"timestamp": "1970-01-01T00:00:00.001Z", "start": "1969-12-31T23:59:59.999Z", "utc_offset_s": 20700}
				{"timestamp": "1970-01-01T00:00:00.002Z", "start": "1970-01-01T00:00:00.002Z", "utc_offset_s": null}`,
		},
		{
			name:       "instants in seconds by override",
			stream:     "azumio.checkins.steps",
			config:     "fields: {modified: {from: s}, created: {from: s}}",
			schema:     arrow.NewSchema([]arrow.Field{field("modified", i64), field("created", f64)}, nil),
			in:         `[{"modified": 1391651101, "created": 1391587206.2425}]`,
			wantSchema: "modified: timestamp[ms, tz=UTC]\ncreated: timestamp[us, tz=UTC]\n",
			wantRows:   `{"modified": "2014-02-06T01:45:01Z", "created": "2014-02-05T08:00:06.2425Z"}`,
		},
		{
			name:   "suffix option",
			stream: "azumio.checkins.steps",
			config: "suffix: true",
			schema: arrow.NewSchema([]arrow.Field{
				field("distance", f64), field("calories", f64), field("timezone", i64),
				field("timestamp", i64), field("version", i64), withUnitMeta(field("speed_m_s", f64), "m/s"),
			}, nil),
			in: `[{"distance": 4271.9215087890625, "calories": 2, "timezone": 1, "timestamp": 0, "version": 3145, "speed_m_s": 1}]`,
			wantSchema: `distance_m: float64 {unit=m}
calories_j: float64 {unit=J}
utc_offset_s: int32 {unit=s}
timestamp: timestamp[ms, tz=UTC]
version: int64
speed_m_s: float64 {unit=m/s}
`,
			wantRows: `{"distance_m": 4271.9215087890625, "calories_j": 8368, "utc_offset_s": 3600, "timestamp": "1970-01-01T00:00:00Z", "version": 3145, "speed_m_s": 1}`,
		},
		{
			name:   "keep adds a column in the kept unit",
			stream: "azumio.checkins.steps",
			config: "fields: {calories: {keep: kcal}, walkCalories: {to: kcal, keep: J}}",
			schema: arrow.NewSchema([]arrow.Field{field("calories", f64), field("walkCalories", f64), field("steps", f64)}, nil),
			in:     `[{"calories": 1.5, "walkCalories": 0.5, "steps": 10}, {"calories": null, "walkCalories": null, "steps": null}]`,
			wantSchema: `calories: float64 {unit=J}
calories_kcal: float64 {unit=kcal}
walkCalories: float64 {unit=kcal}
walkCalories_j: float64 {unit=J}
steps: float64 {unit=1}
`,
			wantRows: `{"calories": 6276, "calories_kcal": 1.5, "walkCalories": 0.5, "walkCalories_j": 2092, "steps": 10}
				{"calories": null, "calories_kcal": null, "walkCalories": null, "walkCalories_j": null, "steps": null}`,
		},
		{
			name:   "lists: every element, nulls and empty lists kept",
			stream: "asi.preprocessed.gnss",
			config: "fields: {'asi.preprocessed.gnss:speed': {from: km/h}}",
			schema: arrow.NewSchema([]arrow.Field{field("timestamp", i64s), field("speed", f64s), field("latitude", f64s)}, nil),
			in: `[{"timestamp": [1, 2, 3], "speed": [36, null, 18], "latitude": [46.5, 46.6, null]},
				{"timestamp": null, "speed": null, "latitude": null},
				{"timestamp": [], "speed": [], "latitude": []}]`,
			wantSchema: `timestamp: list<item: timestamp[ms, tz=UTC]>
speed: list<item: float64> {unit=m/s}
latitude: list<item: float64> {unit=deg}
`,
			wantRows: `{"timestamp": ["1970-01-01T00:00:00.001Z", "1970-01-01T00:00:00.002Z", "1970-01-01T00:00:00.003Z"], "speed": [10, null, 5], "latitude": [46.5, 46.6, null]}
				{"timestamp": null, "speed": null, "latitude": null}
				{"timestamp": [], "speed": [], "latitude": []}`,
		},
		{
			name:   "structs of lists: heart rate in Hz",
			stream: "asi.preprocessed",
			config: "heart_rate: Hz",
			schema: arrow.NewSchema([]arrow.Field{
				field("ecg", arrow.StructOf(field("timestamp", i64s), field("hr", f64s))),
				field("device", arrow.StructOf(field("timestamp", i64s), field("standstill", i64s), field("Bat_lvl", f64s))),
			}, nil),
			in: `[{"ecg": {"timestamp": [1000, 2000], "hr": [60, 90]}, "device": {"timestamp": [5], "standstill": [0], "Bat_lvl": [87.5]}},
				{"ecg": null, "device": null},
				{"ecg": {"timestamp": [3000], "hr": [null]}, "device": {"timestamp": null, "standstill": null, "Bat_lvl": null}}]`,
			wantSchema: `ecg: struct<timestamp: list<item: timestamp[ms, tz=UTC]>; hr: list<item: float64> {unit=Hz}>
device: struct<timestamp: list<item: timestamp[ms, tz=UTC]>; standstill: list<item: int64>; Bat_lvl: list<item: float64> {unit=%}>
`,
			wantRows: `{"ecg": {"timestamp": ["1970-01-01T00:00:01Z", "1970-01-01T00:00:02Z"], "hr": [1, 1.5]}, "device": {"timestamp": ["1970-01-01T00:00:00.005Z"], "standstill": [0], "Bat_lvl": [87.5]}}
				{"ecg": null, "device": null}
				{"ecg": {"timestamp": ["1970-01-01T00:00:03Z"], "hr": [null]}, "device": {"timestamp": null, "standstill": null, "Bat_lvl": null}}`,
		},
		{
			name:   "structs of structs: ASI thresholds",
			stream: "asi.computed",
			schema: arrow.NewSchema([]arrow.Field{
				field("accelerations", arrow.StructOf(field("threshold_1", accel), field("threshold_2", accel))),
			}, nil),
			in: `[{"accelerations": {"threshold_1": {"threshold": 2, "values": [1.5]}, "threshold_2": {"threshold": 3, "values": []}}},
				{"accelerations": {"threshold_1": null, "threshold_2": {"threshold": null, "values": null}}}]`,
			wantSchema: "accelerations: struct<threshold_1: struct<threshold: float64 {unit=m/s²}; values: list<item: float64>>; " +
				"threshold_2: struct<threshold: float64 {unit=m/s²}; values: list<item: float64>>>\n",
			wantRows: `{"accelerations": {"threshold_1": {"threshold": 2, "values": [1.5]}, "threshold_2": {"threshold": 3, "values": []}}}
				{"accelerations": {"threshold_1": null, "threshold_2": {"threshold": null, "values": null}}}`,
		},
		{
			name:   "lists of structs: an Azumio path kept as points",
			stream: "azumio.fragments.path",
			config: "suffix: true",
			schema: arrow.NewSchema([]arrow.Field{
				field("checkin_id", str),
				field("points", arrow.ListOf(arrow.StructOf(field("t", i64), field("lat", f64), field("lon", f64), field("alt", f64)))),
			}, nil),
			in: `[{"checkin_id": "1076547023", "points": [{"t": 1391587200000, "lat": 37.77, "lon": -122.42, "alt": 16.5}, null]}]`,
			wantSchema: "checkin_id: utf8\n" +
				"points: list<item: struct<t: timestamp[ms, tz=UTC]; lat_deg: float64 {unit=deg}; lon_deg: float64 {unit=deg}; alt_m: float64 {unit=m}>>\n",
			wantRows: `{"checkin_id": "1076547023", "points": [{"t": "2014-02-05T08:00:00Z", "lat_deg": 37.77, "lon_deg": -122.42, "alt_m": 16.5}, null]}`,
		},
		{
			name:       "no rows",
			stream:     "azumio.checkins.steps",
			schema:     arrow.NewSchema([]arrow.Field{field("calories", f64), field("timezone", f64), field("modified", f64), field("distance", f64s)}, nil),
			in:         `[]`,
			wantSchema: "calories: float64 {unit=J}\nutc_offset_s: int32 {unit=s}\nmodified: timestamp[us, tz=UTC]\ndistance: list<item: float64> {unit=m}\n",
			wantRows:   ``,
		},
		{
			name:   "not numbers, timestamps already, ids: untouched",
			stream: "azumio.checkins.steps",
			schema: arrow.NewSchema([]arrow.Field{
				field("timezone", str), field("timestamp", tsMS), field("version", i64), field("id", str),
			}, nil),
			in:         `[{"timezone": "America/Los_Angeles", "timestamp": 1391648696402, "version": 3145, "id": "1076547023"}]`,
			wantSchema: "timezone: utf8\ntimestamp: timestamp[ms, tz=UTC]\nversion: int64\nid: utf8\n",
			wantRows:   `{"timezone": "America/Los_Angeles", "timestamp": "2014-02-06T01:04:56.402Z", "version": 3145, "id": "1076547023"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			tr := newTestTransform(t, tc.config, mem, nil)
			defer tr.Close()
			rec := recordFromJSON(t, mem, tc.schema, tc.in)
			out, err := applyOne(t, tr, core.Batch{Stream: tc.stream, Unit: "u", Record: rec, Position: core.Position("p")})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			defer out.Release()
			if out.Stream != tc.stream || out.Unit != "u" || string(out.Position) != "p" {
				t.Errorf("got stream %q, unit %q, position %q; want %q, u, p", out.Stream, out.Unit, out.Position, tc.stream)
			}
			if got := describeSchema(out.Record.Schema()); got != tc.wantSchema {
				t.Errorf("got schema\n%s\nwant\n%s", got, tc.wantSchema)
			}
			if s, err := tr.Schema(tc.stream, tc.schema); err != nil || !s.Equal(out.Record.Schema()) {
				t.Errorf("Schema: got %v, %v; want the emitted record's schema", s, err)
			}
			if err := validRecord(out.Record); err != nil {
				t.Errorf("output record: %v", err)
			}
			got := rowsJSON(t, out.Record)
			if !sameRows(t, got, tc.wantRows) {
				t.Errorf("got rows\n%s\nwant\n%s", got, strings.ReplaceAll(tc.wantRows, "\t", ""))
			}
		})
	}
}

// TestApplyPassesThrough checks that a batch with nothing to convert, or of a
// stream the streams option leaves out, is emitted as the very same record.
func TestApplyPassesThrough(t *testing.T) {
	tests := []struct {
		name, stream, config string
		schema               *arrow.Schema
	}{
		{"streams option leaves it out", "azumio.checkins.steps", "streams: [asi.*]",
			arrow.NewSchema([]arrow.Field{field("calories", f64)}, nil)},
		{"units already recorded", "azumio.checkins.steps", "",
			arrow.NewSchema([]arrow.Field{withUnitMeta(field("distance", f64), "m"), field("id", str)}, nil)},
		{"nothing measured", "other", "",
			arrow.NewSchema([]arrow.Field{field("calories", f64)}, nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			tr := newTestTransform(t, tc.config, mem, nil)
			rec := recordFromJSON(t, mem, tc.schema, `[{}]`)
			out, err := applyOne(t, tr, core.Batch{Stream: tc.stream, Unit: "u", Record: rec})
			if err != nil {
				t.Fatal(err)
			}
			if out.Record != rec {
				t.Errorf("got a new record with schema\n%s\nwant the input record", describeSchema(out.Record.Schema()))
			}
			out.Release()
		})
	}
}

// TestApplyErrors checks the problems that only a batch can show.
func TestApplyErrors(t *testing.T) {
	tests := []struct {
		name, stream, config string
		schema               *arrow.Schema
		want                 string
	}{
		{
			name:   "metadata contradicts an override",
			stream: "azumio.checkins.steps", config: "fields: {distance: {to: km}}",
			schema: arrow.NewSchema([]arrow.Field{withUnitMeta(field("distance", f64), "s")}, nil),
			want:   "siunits: stream azumio.checkins.steps: field distance: unit s (from its metadata) cannot become km as fields.distance asks: siunits: cannot convert s (time) to km (length) (want one of: s, ms, us, min, h)",
		},
		{
			name:   "suffix collides with a column",
			stream: "azumio.checkins.steps", config: "suffix: true",
			schema: arrow.NewSchema([]arrow.Field{field("distance", f64), field("distance_m", str)}, nil),
			want:   "siunits: stream azumio.checkins.steps: two columns would be named distance_m (a unit suffix or a kept copy collides with a column the stream has); rename with the fields option or turn suffix off",
		},
		{
			name:   "kept copy collides inside a struct",
			stream: "asi.preprocessed", config: "fields: {'asi.preprocessed:gnss.speed': {keep: km/h}}",
			schema: arrow.NewSchema([]arrow.Field{field("gnss", arrow.StructOf(field("speed", f64), field("speed_km_h", f64)))}, nil),
			want:   "siunits: stream asi.preprocessed: two columns would be named gnss.speed_km_h (a unit suffix or a kept copy collides with a column the stream has); rename with the fields option or turn suffix off",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			tr := newTestTransform(t, tc.config, mem, nil)
			rec := recordFromJSON(t, mem, tc.schema, `[{}]`)
			emitted := false
			err := tr.Apply(context.Background(), core.Batch{Stream: tc.stream, Record: rec}, func(_ context.Context, b core.Batch) error {
				emitted = true
				b.Release()
				return nil
			})
			if err == nil || err.Error() != tc.want {
				t.Errorf("got error %v\nwant %s", err, tc.want)
			}
			if emitted {
				t.Error("got a batch emitted, want none on error")
			}
		})
	}
}

// TestPlanPerSchema checks that batches of one stream whose schemas differ only
// in unit metadata are each converted by their own unit.
func TestPlanPerSchema(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	tr := newTestTransform(t, "", mem, nil)
	for _, tc := range []struct{ unit, want string }{{"m", "2"}, {"km", "2000"}, {"m", "2"}, {"mi", "3218.688"}} {
		schema := arrow.NewSchema([]arrow.Field{withUnitMeta(field("distance", f64), tc.unit)}, nil)
		rec := recordFromJSON(t, mem, schema, `[{"distance": 2}]`)
		out, err := applyOne(t, tr, core.Batch{Stream: "azumio.checkins.steps", Record: rec})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := rowsJSON(t, out.Record), `{"distance": `+tc.want+`}`; !sameRows(t, got, want) {
			t.Errorf("distance in %s: got %s, want %s", tc.unit, got, want)
		}
		out.Release()
	}
}
