package files

import (
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
	{Name: "day", Type: arrow.FixedWidthTypes.Date32},
	{Name: "user", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "n", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
}, nil)

const testRows = `[
	{"id": 0, "ts": "2026-11-21T23:59:59.999Z", "day": "2026-11-21", "user": "a", "n": 1, "x": 1.5},
	{"id": 1, "ts": "2026-11-22T00:00:00Z", "day": "2026-11-21", "user": "b/c=d", "n": 1, "x": null},
	{"id": 2, "ts": "2026-11-21T10:00:00Z", "day": "2026-11-21", "user": null, "n": 2, "x": 1.5},
	{"id": 3, "ts": "2026-11-22T10:00:00Z", "day": "2026-11-21", "user": "a", "n": null, "x": -0.25},
	{"id": 4, "ts": "1969-12-31T23:00:00Z", "day": "2026-11-21", "user": "", "n": 2, "x": 1.5}
]`

// groups maps each partition directory to the ids of its rows, in row order.
func groups(rec arrow.RecordBatch, dirs []string, codes []int32) map[string][]int64 {
	out := map[string][]int64{}
	ids := rec.Column(0).(*array.Int64)
	for i := 0; i < int(rec.NumRows()); i++ {
		g := 0
		if codes != nil {
			g = int(codes[i])
		}
		out[dirs[g]] = append(out[dirs[g]], ids.Value(i))
	}
	return out
}

func TestPartitions(t *testing.T) {
	tests := []struct {
		keys []string
		want map[string][]int64
	}{
		{nil, map[string][]int64{"": {0, 1, 2, 3, 4}}},
		{[]string{"stream", "unit"}, map[string][]int64{
			"stream=azumio.checkins.steps/unit=user%2F1": {0, 1, 2, 3, 4},
		}},
		{[]string{"date"}, map[string][]int64{
			"date=2026-11-21": {0, 2},
			"date=2026-11-22": {1, 3},
			"date=1969-12-31": {4},
		}},
		{[]string{"date:day"}, map[string][]int64{"date=2026-11-21": {0, 1, 2, 3, 4}}},
		{[]string{"user"}, map[string][]int64{
			"user=a":                          {0, 3},
			"user=b%2Fc%3Dd":                  {1},
			"user=__HIVE_DEFAULT_PARTITION__": {2, 4},
		}},
		{[]string{"column:n"}, map[string][]int64{
			"n=1":                          {0, 1},
			"n=2":                          {2, 4},
			"n=__HIVE_DEFAULT_PARTITION__": {3},
		}},
		{[]string{"x"}, map[string][]int64{
			"x=1.5":                        {0, 2, 4},
			"x=-0.25":                      {3},
			"x=__HIVE_DEFAULT_PARTITION__": {1},
		}},
		{[]string{"stream", "n", "date"}, map[string][]int64{
			"stream=azumio.checkins.steps/n=1/date=2026-11-21":                          {0},
			"stream=azumio.checkins.steps/n=1/date=2026-11-22":                          {1},
			"stream=azumio.checkins.steps/n=2/date=2026-11-21":                          {2},
			"stream=azumio.checkins.steps/n=__HIVE_DEFAULT_PARTITION__/date=2026-11-22": {3},
			"stream=azumio.checkins.steps/n=2/date=1969-12-31":                          {4},
		}},
		{[]string{"id"}, map[string][]int64{"id=0": {0}, "id=1": {1}, "id=2": {2}, "id=3": {3}, "id=4": {4}}},
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := record(t, mem, testSchema, testRows)
	defer rec.Release()
	for _, tt := range tests {
		t.Run(strings.Join(tt.keys, ","), func(t *testing.T) {
			keys := parseKeys(t, tt.keys)
			dirs, codes, err := partitions(keys, "azumio.checkins.steps", "user/1", rec)
			if err != nil {
				t.Fatal(err)
			}
			if got := groups(rec, dirs, codes); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func parseKeys(t *testing.T, ss []string) []partKey {
	t.Helper()
	keys := make([]partKey, len(ss))
	for i, s := range ss {
		k, err := parseKey(s)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	return keys
}

func TestPartitionsDictionary(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "sport", Type: dt, Nullable: true},
	}, nil)
	ids := record(t, mem, arrow.NewSchema(schema.Fields()[:1], nil), `[{"id": 0}, {"id": 1}, {"id": 2}, {"id": 3}]`)
	defer ids.Release()
	// "unused" is in the dictionary but in no row: it must not become a partition.
	values, _, err := array.FromJSON(mem, arrow.BinaryTypes.String, strings.NewReader(`["unused", "run", ""]`))
	if err != nil {
		t.Fatal(err)
	}
	defer values.Release()
	indices, _, err := array.FromJSON(mem, arrow.PrimitiveTypes.Int8, strings.NewReader(`[1, 2, 1, null]`))
	if err != nil {
		t.Fatal(err)
	}
	defer indices.Release()
	sport := array.NewDictionaryArray(dt, indices, values)
	defer sport.Release()
	rec := array.NewRecordBatch(schema, []arrow.Array{ids.Column(0), sport}, 4)
	defer rec.Release()

	dirs, codes, err := partitions(parseKeys(t, []string{"sport"}), "s", "u", rec)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int64{"sport=run": {0, 2}, "sport=__HIVE_DEFAULT_PARTITION__": {1, 3}}
	if got := groups(rec, dirs, codes); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestPartitionErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	noTime := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	rec := record(t, mem, noTime, `[{"id": 1}]`)
	defer rec.Release()
	tests := []struct{ key, want string }{
		{"date:id", `files: partition key date:id: column "id" of stream "s" is int64, not a timestamp or date`},
		{"user", `files: partition key user: stream "s" has no column "user"`},
	}
	for _, tt := range tests {
		_, _, err := partitions(parseKeys(t, []string{tt.key}), "s", "u", rec)
		if err == nil || err.Error() != tt.want {
			t.Errorf("partition by %s: got error %v, want %s", tt.key, err, tt.want)
		}
	}
}

func TestPartitionDateWithoutTimeColumn(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	noTime := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	rec := record(t, mem, noTime, `[{"id": 1}, {"id": 2}]`)
	defer rec.Release()
	dirs, codes, err := partitions(parseKeys(t, []string{"stream", "date"}), "azumio.profile", "u", rec)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int64{"stream=azumio.profile/date=" + DefaultPartition: {1, 2}} // the ids of the rows
	if got := groups(rec, dirs, codes); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain-value_1.2 x", "plain-value_1.2 x"},
		{"a/b", "a%2Fb"},
		{"k=v", "k%3Dv"},
		{"10:00:00", "10%3A00%3A00"},
		{"100%", "100%25"},
		{`"#'*?\^{[]`, "%22%23%27%2A%3F%5C%5E%7B%5B%5D"},
		{"tab\tnl\n\x7f", "tab%09nl%0A%7F"},
		{"ünïcode", "ünïcode"},
		{"..", ".."},
	}
	for _, tt := range tests {
		if got := Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOptionsProblems(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []Problem
	}{
		{"ok", Options{Path: "x", PartitionBy: []string{"stream", "unit", "date:ts", "user", "column:day"}}, nil},
		{"no path", Options{}, []Problem{{"path", "required"}}},
		{"bad keys", Options{Path: "x", PartitionBy: []string{"", "date:", "date", "date:ts", "column:"}}, []Problem{
			{"partition_by[0]", "empty partition key"},
			{"partition_by[1]", `partition key "date:" names no column (want date:COLUMN)`},
			{"partition_by[3]", `partition key "date:ts" repeats the directory key "date" of partition_by[2]`},
			{"partition_by[4]", `partition key "column:" names no column (want column:NAME)`},
		}},
		{"negative roll", Options{Path: "x", Roll: Roll{Rows: -1, Bytes: -2, Interval: -3}}, []Problem{
			{"roll.rows", "must not be negative, got -1"},
			{"roll.bytes", "must not be negative, got -2"},
			{"roll.interval", "must not be negative, got -3ns"},
		}},
		{"bad prefix", Options{Path: "x", Prefix: "a/b"}, []Problem{{"prefix", `"a/b" is not a plain file name prefix`}}},
		{"hidden prefix", Options{Path: "x", Prefix: ".p"}, []Problem{{"prefix", `".p" is not a plain file name prefix`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.opts.Problems(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := New(Options{PartitionBy: []string{""}}, lines{})
	want := "files: path: required\nfiles: partition_by[0]: empty partition key"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}
