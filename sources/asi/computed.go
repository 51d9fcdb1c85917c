package asi

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	json "github.com/goccy/go-json"
)

// StreamComputed is the stream of computed data: one row per time frame and
// version.
const StreamComputed = "asi.computed"

func withUnit(f arrow.Field, unit string) arrow.Field {
	f.Metadata = arrow.NewMetadata([]string{"unit"}, []string{unit})
	return f
}

// thresholdType is one entry of accelerations or decelerations: the entry's
// key (threshold_1, ...), its threshold in m/s² and its values.
//
// The entries are a list of structs rather than a struct per key, because the
// keys vary with the time frame's configuration: a list keeps one schema for
// every time frame (and one row per time frame) whatever the number of
// thresholds, and DuckDB, pandas and Spark unnest it directly.
var thresholdType = arrow.StructOf(
	arrow.Field{Name: "name", Type: arrow.BinaryTypes.String},
	withUnit(arrow.Field{Name: "threshold", Type: arrow.PrimitiveTypes.Float64, Nullable: true}, "m/s²"),
	arrow.Field{Name: "values", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64), Nullable: true},
)

var computedSchema = arrow.NewSchema([]arrow.Field{
	{Name: "timeframe_id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "version", Type: arrow.PrimitiveTypes.Int64},
	{Name: "activity_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "athlete_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "device_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "owner_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "start_time", Type: arrow.FixedWidthTypes.Timestamp_ms, Nullable: true},
	{Name: "end_time", Type: arrow.FixedWidthTypes.Timestamp_ms, Nullable: true},
	withUnit(arrow.Field{Name: "total_distance", Type: arrow.PrimitiveTypes.Float64, Nullable: true}, "m"),
	withUnit(arrow.Field{Name: "max_speed", Type: arrow.PrimitiveTypes.Float64, Nullable: true}, "m/s"),
	withUnit(arrow.Field{Name: "average_speed", Type: arrow.PrimitiveTypes.Float64, Nullable: true}, "m/s"),
	{Name: "last_timestamp", Type: arrow.FixedWidthTypes.Timestamp_ms, Nullable: true},
	{Name: "accelerations", Type: arrow.ListOf(thresholdType), Nullable: true},
	{Name: "decelerations", Type: arrow.ListOf(thresholdType), Nullable: true},
	{Name: extraColumn, Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// The time frame's keys copied into each computed row, and the computed
// data's typed keys.
var (
	computedFrameCols = []column{
		col("activity", "activity_id", kInt), col("athlete", "athlete_id", kInt),
		col("device", "device_id", kInt), col("owner", "owner_id", kInt),
		col("start_time", "start_time", kTime), col("end_time", "end_time", kTime),
	}
	computedDataCols = []column{
		col("total_distance", "total_distance", kFloat), col("max_speed", "max_speed", kFloat),
		col("average_speed", "average_speed", kFloat), col("last_timestamp", "last_timestamp", kTime),
	}
)

type thresholdEntry struct {
	name      string
	threshold value
	values    []float64
	valid     []bool // nil: every value present
	hasValues bool
}

// decodeThresholds reads {"threshold_1": {"threshold": 2, "values": [...]}, ...}.
// Anything else (another shape, unknown keys in an entry) does not fit: the
// caller keeps the raw value in _extra.
func decodeThresholds(raw json.RawMessage) (entries []thresholdEntry, null, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, true, true
	}
	var m map[string]map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return nil, false, false
	}
	for name, e := range m {
		if e == nil {
			return nil, false, false
		}
		te := thresholdEntry{name: name}
		for k, v := range e {
			switch k {
			case "threshold":
				if te.threshold, ok = decodeValue(v, kFloat); !ok {
					return nil, false, false
				}
			case "values":
				if t := bytes.TrimSpace(v); string(t) == "null" {
					continue
				}
				vals, valid, good := parseNumbers(v, nil, nil)
				if !good {
					return nil, false, false
				}
				te.values, te.valid, te.hasValues = vals, valid, true
			default:
				return nil, false, false
			}
		}
		if _, has := e["threshold"]; !has {
			te.threshold = value{null: true}
		}
		entries = append(entries, te)
	}
	slices.SortFunc(entries, func(a, b thresholdEntry) int { return naturalCompare(a.name, b.name) })
	return entries, false, true
}

// naturalCompare orders threshold_2 before threshold_10.
func naturalCompare(a, b string) int {
	pa, na := splitNumber(a)
	pb, nb := splitNumber(b)
	if pa == pb && na >= 0 && nb >= 0 && na != nb {
		return cmp.Compare(na, nb)
	}
	return strings.Compare(a, b)
}

func splitNumber(s string) (string, int) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	n, err := strconv.Atoi(s[i:])
	if err != nil {
		return s, -1
	}
	return s[:i], n
}

// computedRow is one decoded row of asi.computed.
type computedRow struct {
	timeframe, version int64
	frame              []value // computedFrameCols
	data               []value // computedDataCols
	acc, dec           []thresholdEntry
	accNull, decNull   bool
	extra              string
}

// decodeComputed decodes a time frame (for its ids and period) and its
// computed data (an object) into a row.
func decodeComputed(tfID, version int64, tf map[string]json.RawMessage, data []byte) (computedRow, error) {
	r := computedRow{timeframe: tfID, version: version}
	for _, c := range computedFrameCols {
		v, _ := decodeValue(tf[c.key], c.kind)
		r.frame = append(r.frame, v)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return r, fmt.Errorf("computed data is not a JSON object: %w", err)
	}
	extra := map[string]json.RawMessage{}
	for _, c := range computedDataCols {
		v, ok := decodeValue(m[c.key], c.kind)
		if !ok {
			extra[c.key] = m[c.key]
		}
		r.data = append(r.data, v)
		delete(m, c.key)
	}
	var ok bool
	if r.acc, r.accNull, ok = decodeThresholds(m["accelerations"]); !ok {
		extra["accelerations"], r.accNull = m["accelerations"], true
	}
	if r.dec, r.decNull, ok = decodeThresholds(m["decelerations"]); !ok {
		extra["decelerations"], r.decNull = m["decelerations"], true
	}
	delete(m, "accelerations")
	delete(m, "decelerations")
	for k, v := range m {
		extra[k] = v
	}
	var err error
	r.extra, err = extraText(extra)
	return r, err
}

// buildComputed returns the rows as one record; the caller owns it.
func buildComputed(mem memory.Allocator, rows []computedRow) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, computedSchema)
	defer b.Release()
	for _, r := range rows {
		b.Field(0).(*array.Int64Builder).Append(r.timeframe)
		b.Field(1).(*array.Int64Builder).Append(r.version)
		i := 2
		for j, c := range computedFrameCols {
			appendValue(b.Field(i), c.kind, r.frame[j])
			i++
		}
		for j, c := range computedDataCols {
			appendValue(b.Field(i), c.kind, r.data[j])
			i++
		}
		appendThresholds(b.Field(i).(*array.ListBuilder), r.acc, r.accNull)
		appendThresholds(b.Field(i+1).(*array.ListBuilder), r.dec, r.decNull)
		eb := b.Field(i + 2).(*array.StringBuilder)
		if r.extra == "" {
			eb.AppendNull()
		} else {
			eb.Append(r.extra)
		}
	}
	return b.NewRecordBatch()
}

func appendThresholds(lb *array.ListBuilder, entries []thresholdEntry, null bool) {
	if null {
		lb.AppendNull()
		return
	}
	lb.Append(true)
	sb := lb.ValueBuilder().(*array.StructBuilder)
	for _, e := range entries {
		sb.Append(true)
		sb.FieldBuilder(0).(*array.StringBuilder).Append(e.name)
		appendValue(sb.FieldBuilder(1), kFloat, e.threshold)
		vb := sb.FieldBuilder(2).(*array.ListBuilder)
		if !e.hasValues {
			vb.AppendNull()
			continue
		}
		vb.Append(true)
		vb.ValueBuilder().(*array.Float64Builder).AppendValues(e.values, e.valid)
	}
}
