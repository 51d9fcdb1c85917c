package asi

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	json "github.com/goccy/go-json"
)

// extraColumn holds, as a JSON object, every key of a record that has no
// typed column (and any value that did not fit its column's type), so that
// nothing the API sends is lost when it adds a field.
const extraColumn = "_extra"

// kind is the Arrow type a JSON value is decoded into.
type kind uint8

const (
	kInt    kind = iota // int64 from a JSON integer
	kFloat              // float64 from a JSON number
	kString             // string from a JSON string
	kBool               // bool from true/false
	kTime               // timestamp[ms, UTC] from RFC 3339 text or UNIX ms
	kDate               // date32 from YYYY-MM-DD
	kJSON               // the value's JSON text (objects such as params)
)

func (k kind) dataType() arrow.DataType {
	switch k {
	case kInt:
		return arrow.PrimitiveTypes.Int64
	case kFloat:
		return arrow.PrimitiveTypes.Float64
	case kBool:
		return arrow.FixedWidthTypes.Boolean
	case kTime:
		return arrow.FixedWidthTypes.Timestamp_ms
	case kDate:
		return arrow.FixedWidthTypes.Date32
	}
	return arrow.BinaryTypes.String
}

// column maps one JSON key of an API object to a typed Arrow column.
type column struct {
	key      string // JSON key
	name     string // column name
	kind     kind
	unit     string // Arrow field metadata "unit", if the contract states one
	required bool   // a row without it is rejected (ids)
}

func col(key, name string, k kind) column { return column{key: key, name: name, kind: k} }

func (c column) withUnit(u string) column { c.unit = u; return c }

func (c column) req() column { c.required = true; return c }

func (c column) field() arrow.Field {
	f := arrow.Field{Name: c.name, Type: c.kind.dataType(), Nullable: !c.required}
	if c.unit != "" {
		f.Metadata = arrow.NewMetadata([]string{"unit"}, []string{c.unit})
	}
	return f
}

// objectSchema turns API objects (athletes, devices, ...) into records: one
// typed column per documented key, the rest in _extra.
type objectSchema struct {
	stream string
	cols   []column
	schema *arrow.Schema
}

func newObjectSchema(stream string, cols ...column) *objectSchema {
	fields := make([]arrow.Field, 0, len(cols)+1)
	for _, c := range cols {
		fields = append(fields, c.field())
	}
	fields = append(fields, arrow.Field{Name: extraColumn, Type: arrow.BinaryTypes.String, Nullable: true})
	return &objectSchema{stream: stream, cols: cols, schema: arrow.NewSchema(fields, nil)}
}

// value is one decoded JSON value.
type value struct {
	null bool
	i    int64
	f    float64
	s    string
	b    bool
}

// reject is an object that could not become a row, for the dead letters.
type reject struct {
	raw    []byte
	reason string
}

// decodeRow decodes obj into one value per column and the _extra text ("" for
// none). A required value that is missing or of the wrong type rejects the row.
func (o *objectSchema) decodeRow(raw []byte) ([]value, string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, "", fmt.Errorf("not a JSON object")
	}
	vals := make([]value, len(o.cols))
	extra := map[string]json.RawMessage{}
	used := make(map[string]bool, len(o.cols))
	for i, c := range o.cols {
		used[c.key] = true
		v, ok := decodeValue(m[c.key], c.kind)
		if !ok {
			extra[c.key] = m[c.key] // keep what did not fit
		}
		if c.required && v.null {
			return nil, "", fmt.Errorf("%s: want %s, got %s", c.key, kindName(c.kind), describeRaw(m[c.key]))
		}
		vals[i] = v
	}
	for k, v := range m {
		if !used[k] {
			extra[k] = v
		}
	}
	ex, err := extraText(extra)
	return vals, ex, err
}

// extraText encodes the keys of extra as one compact JSON object with sorted
// keys, "" when there are none.
func extraText(extra map[string]json.RawMessage) (string, error) {
	if len(extra) == 0 {
		return "", nil
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kq, _ := json.Marshal(k)
		b.Write(kq)
		b.WriteByte(':')
		if err := compactJSON(&b, extra[k]); err != nil {
			return "", err
		}
	}
	b.WriteByte('}')
	return b.String(), nil
}

func compactJSON(b *bytes.Buffer, raw []byte) error {
	if len(raw) == 0 {
		b.WriteString("null")
		return nil
	}
	return json.Compact(b, raw)
}

func kindName(k kind) string {
	return [...]string{"an integer", "a number", "a string", "true or false", "an instant", "a date", "JSON"}[k]
}

func describeRaw(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	if len(raw) > 40 {
		return string(raw[:40]) + "..."
	}
	return string(raw)
}

// decodeValue decodes raw as k. A missing or null value is null and fits; a
// value of another type is null and does not fit (ok false).
func decodeValue(raw json.RawMessage, k kind) (v value, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return value{null: true}, true
	}
	switch k {
	case kInt:
		if i, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return value{i: i}, true
		}
		if f, err := strconv.ParseFloat(string(raw), 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return value{i: int64(f)}, true
		}
	case kFloat:
		if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
			return value{f: f}, true
		}
	case kString:
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return value{s: s}, true
		}
	case kBool:
		switch string(raw) {
		case "true":
			return value{b: true}, true
		case "false":
			return value{}, true
		}
	case kTime:
		if ms, ok := instantMs(raw); ok {
			return value{i: ms}, true
		}
	case kDate:
		var s string
		if json.Unmarshal(raw, &s) == nil && len(s) >= 10 {
			if t, err := time.Parse(time.DateOnly, s[:10]); err == nil {
				return value{i: t.Unix() / 86400}, true
			}
		}
	case kJSON:
		var b bytes.Buffer
		if json.Compact(&b, raw) == nil {
			return value{s: b.String()}, true
		}
	}
	return value{null: true}, false
}

// instantMs reads an instant as UNIX ms: RFC 3339 text (also with the
// guide's "+0100" offsets) or a number of ms (rounded).
func instantMs(raw []byte) (int64, bool) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		t, ok := parseInstant(s)
		return t.UnixMilli(), ok
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e15 {
		return 0, false
	}
	return int64(math.Round(f)), true
}

func parseInstant(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// build decodes objs into one record (nil if no object made a row) and the
// objects it rejected. The caller owns the record.
func (o *objectSchema) build(mem memory.Allocator, objs []json.RawMessage) (arrow.RecordBatch, []reject) {
	b := array.NewRecordBuilder(mem, o.schema)
	defer b.Release()
	var rejects []reject
	rows := 0
	for _, raw := range objs {
		vals, extra, err := o.decodeRow(raw)
		if err != nil {
			rejects = append(rejects, reject{raw: raw, reason: err.Error()})
			continue
		}
		rows++
		for i, c := range o.cols {
			appendValue(b.Field(i), c.kind, vals[i])
		}
		eb := b.Field(len(o.cols)).(*array.StringBuilder)
		if extra == "" {
			eb.AppendNull()
		} else {
			eb.Append(extra)
		}
	}
	if rows == 0 {
		return nil, rejects
	}
	return b.NewRecordBatch(), rejects
}

func appendValue(fb array.Builder, k kind, v value) {
	if v.null {
		fb.AppendNull()
		return
	}
	switch k {
	case kInt:
		fb.(*array.Int64Builder).Append(v.i)
	case kFloat:
		fb.(*array.Float64Builder).Append(v.f)
	case kBool:
		fb.(*array.BooleanBuilder).Append(v.b)
	case kTime:
		fb.(*array.TimestampBuilder).Append(arrow.Timestamp(v.i))
	case kDate:
		fb.(*array.Date32Builder).Append(arrow.Date32(v.i))
	default:
		fb.(*array.StringBuilder).Append(v.s)
	}
}

// The metadata streams' schemas. Units are those the contract states.
var (
	athletesSchema = newObjectSchema("asi.athletes",
		col("id", "athlete_id", kInt).req(),
		col("user", "user_id", kInt),
		col("username", "username", kString),
		col("email", "email", kString),
		col("external_id", "external_id", kString),
		col("first_name", "first_name", kString),
		col("last_name", "last_name", kString),
		col("weight", "weight", kFloat).withUnit("kg"),
		col("height", "height", kFloat).withUnit("m"),
		col("max_heart_rate", "max_heart_rate", kFloat).withUnit("1/min"),
		col("birthdate", "birthdate", kDate),
	)
	devicesSchema = newObjectSchema("asi.devices",
		col("id", "device_id", kInt).req(),
		col("serial_number", "serial_number", kString),
		col("name", "name", kString),
		col("activated", "activated", kBool),
		col("owner", "owner_id", kInt),
		col("owned_since", "owned_since", kTime),
	)
	activitiesSchema = newObjectSchema("asi.activities",
		col("id", "activity_id", kInt).req(),
		col("name", "name", kString),
		col("json", "json", kJSON),
		col("json_schema", "json_schema_id", kInt),
		col("owner", "owner_id", kInt),
		col("created", "created", kTime),
		col("modified", "modified", kTime),
	)
	timeframesSchema = newObjectSchema("asi.timeframes",
		col("id", "timeframe_id", kInt).req(),
		col("activity", "activity_id", kInt),
		col("athlete", "athlete_id", kInt),
		col("device", "device_id", kInt),
		col("owner", "owner_id", kInt),
		col("json_schema", "json_schema_id", kInt),
		col("start_time", "start_time", kTime),
		col("end_time", "end_time", kTime),
		col("params", "params", kJSON),
		col("created", "created", kTime),
		col("modified", "modified", kTime),
	)
	permissionsSchema = newObjectSchema("asi.permissions",
		col("id", "permission_id", kInt).req(),
		col("athlete", "athlete_id", kInt),
		col("manager", "manager_id", kInt),
		col("permission", "permission", kString),
		col("start_time", "start_time", kTime),
		col("expiration_time", "expiration_time", kTime),
		col("created", "created", kTime),
	)
)

// objectSchemas maps each metadata stream option to its schema.
var objectSchemas = map[string]*objectSchema{
	"athletes": athletesSchema, "devices": devicesSchema, "activities": activitiesSchema,
	"timeframes": timeframesSchema, "permissions": permissionsSchema,
}
