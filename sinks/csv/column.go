package csv

import (
	"encoding/base64"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// appendFunc appends the text of row i of the array it was compiled for. The
// functions below are compiled once per column and batch, by one type switch,
// so that formatting a cell costs no type switch.
type appendFunc func(b []byte, i int) []byte

// column is one array ready to be formatted: str gives zero-copy cells for
// string-valued columns, otherwise app formats into a buffer; null is nil when
// no row is null.
type column struct {
	str  func(i int) string
	app  appendFunc
	null func(i int) bool
}

func compileColumn(a arrow.Array) column {
	c := column{null: nullFunc(a)}
	switch a := a.(type) {
	case *array.String:
		c.str = a.Value
	case *array.LargeString:
		c.str = a.Value
	case *array.StringView:
		c.str = a.Value
	case *array.Dictionary:
		if d, ok := a.Dictionary().(*array.String); ok {
			c.str = func(i int) string { return d.Value(a.GetValueIndex(i)) }
		} else {
			c.app = textAppender(a)
		}
	default:
		c.app = textAppender(a)
	}
	return c
}

// nullFunc returns whether row i of a is null, or nil when no row is. A
// dictionary row is null when its index or its value is.
func nullFunc(a arrow.Array) func(int) bool {
	switch a := a.(type) {
	case *array.Null:
		return func(int) bool { return true }
	case *array.Dictionary:
		dict := a.Dictionary()
		if a.NullN() == 0 && dict.NullN() == 0 {
			return nil
		}
		return func(i int) bool { return a.IsNull(i) || dict.IsNull(a.GetValueIndex(i)) }
	}
	if a.NullN() == 0 {
		return nil
	}
	bitmap, offset := a.NullBitmapBytes(), a.Data().Offset()
	return func(i int) bool { return !bitutil.BitIsSet(bitmap, offset+i) }
}

// textAppender compiles the CSV text of a's non-null values: numbers in Go's
// shortest round-trip form, timestamps in ISO 8601 UTC, binary in base64,
// nested values as JSON, dictionaries as their values, and other types
// (extension types such as UUID among them) as the array's own ValueStr.
func textAppender(a arrow.Array) appendFunc {
	if f := scalarAppender(a, false); f != nil {
		return f
	}
	switch a := a.(type) {
	case *array.Dictionary:
		values := textAppender(a.Dictionary())
		return func(b []byte, i int) []byte { return values(b, a.GetValueIndex(i)) }
	case *array.Map, array.ListLike, *array.Struct:
		return jsonValue(a)
	}
	return func(b []byte, i int) []byte { return append(b, a.ValueStr(i)...) }
}

// jsonAppender compiles the JSON text of a's values, null included.
func jsonAppender(a arrow.Array) appendFunc {
	value := jsonValue(a)
	null := nullFunc(a)
	if null == nil {
		return value
	}
	return func(b []byte, i int) []byte {
		if null(i) {
			return append(b, "null"...)
		}
		return value(b, i)
	}
}

// jsonValue compiles the JSON text of a's non-null values: numbers as numbers
// (NaN and infinities as the strings "NaN", "+Inf", "-Inf"), everything else
// scalar as a JSON string of its CSV text, lists as arrays, structs as objects,
// maps as objects keyed by the keys' text.
func jsonValue(a arrow.Array) appendFunc {
	if f := scalarAppender(a, true); f != nil {
		return f
	}
	switch a := a.(type) {
	case *array.Dictionary:
		values := jsonAppender(a.Dictionary())
		return func(b []byte, i int) []byte { return values(b, a.GetValueIndex(i)) }
	case *array.Map:
		keys, items := textAppender(a.Keys()), jsonAppender(a.Items())
		var key []byte
		return func(b []byte, i int) []byte {
			start, end := a.ValueOffsets(i)
			b = append(b, '{')
			for j := int(start); j < int(end); j++ {
				if j > int(start) {
					b = append(b, ',')
				}
				key = keys(key[:0], j)
				b = appendJSONString(b, string(key))
				b = append(b, ':')
				b = items(b, j)
			}
			return append(b, '}')
		}
	case array.ListLike:
		elem := jsonAppender(a.ListValues())
		return func(b []byte, i int) []byte {
			start, end := a.ValueOffsets(i)
			b = append(b, '[')
			for j := int(start); j < int(end); j++ {
				if j > int(start) {
					b = append(b, ',')
				}
				b = elem(b, j)
			}
			return append(b, ']')
		}
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		names := make([][]byte, a.NumField())
		fields := make([]appendFunc, a.NumField())
		for k := range fields {
			names[k] = appendJSONString(nil, st.Field(k).Name)
			fields[k] = jsonAppender(a.Field(k))
		}
		return func(b []byte, i int) []byte {
			b = append(b, '{')
			for k, f := range fields {
				if k > 0 {
					b = append(b, ',')
				}
				b = append(b, names[k]...)
				b = append(b, ':')
				b = f(b, i)
			}
			return append(b, '}')
		}
	}
	return func(b []byte, i int) []byte { return appendJSONString(b, a.ValueStr(i)) }
}

// scalarAppender compiles the common scalar types, as CSV text or (json) as
// JSON values; nil for other types.
func scalarAppender(a arrow.Array, json bool) appendFunc {
	quoted := func(f appendFunc) appendFunc {
		if !json {
			return f
		}
		return func(b []byte, i int) []byte {
			b = append(b, '"')
			b = f(b, i)
			return append(b, '"')
		}
	}
	switch a := a.(type) {
	case *array.Null:
		if json {
			return func(b []byte, i int) []byte { return append(b, "null"...) }
		}
		return func(b []byte, i int) []byte { return b }
	case *array.Boolean:
		return func(b []byte, i int) []byte { return strconv.AppendBool(b, a.Value(i)) }
	case *array.Int8:
		return appendInts(a.Values())
	case *array.Int16:
		return appendInts(a.Values())
	case *array.Int32:
		return appendInts(a.Values())
	case *array.Int64:
		return appendInts(a.Values())
	case *array.Uint8:
		return appendUints(a.Values())
	case *array.Uint16:
		return appendUints(a.Values())
	case *array.Uint32:
		return appendUints(a.Values())
	case *array.Uint64:
		return appendUints(a.Values())
	case *array.Float16:
		vals := a.Values()
		return func(b []byte, i int) []byte { return appendFloat(b, float64(vals[i].Float32()), 32, json) }
	case *array.Float32:
		vals := a.Values()
		return func(b []byte, i int) []byte { return appendFloat(b, float64(vals[i]), 32, json) }
	case *array.Float64:
		vals := a.Values()
		return func(b []byte, i int) []byte { return appendFloat(b, vals[i], 64, json) }
	case *array.Decimal128:
		scale := a.DataType().(*arrow.Decimal128Type).Scale
		return func(b []byte, i int) []byte { return append(b, a.Value(i).ToString(scale)...) }
	case *array.Decimal256:
		scale := a.DataType().(*arrow.Decimal256Type).Scale
		return func(b []byte, i int) []byte { return append(b, a.Value(i).ToString(scale)...) }
	case *array.Duration:
		return appendInts(a.Values())
	case *array.String:
		return appendStrings(a.Value, json)
	case *array.LargeString:
		return appendStrings(a.Value, json)
	case *array.StringView:
		return appendStrings(a.Value, json)
	case *array.Binary:
		return quoted(appendBase64(a.Value))
	case *array.LargeBinary:
		return quoted(appendBase64(a.Value))
	case *array.BinaryView:
		return quoted(appendBase64(a.Value))
	case *array.FixedSizeBinary:
		return quoted(appendBase64(a.Value))
	case *array.Timestamp:
		vals, ts := a.Values(), newTimestampFormat(a.DataType().(*arrow.TimestampType).Unit)
		return quoted(func(b []byte, i int) []byte { return ts.append(b, int64(vals[i])) })
	case *array.Date32:
		vals := a.Values()
		return quoted(func(b []byte, i int) []byte { return appendDate(b, int64(vals[i])) })
	case *array.Date64:
		vals := a.Values()
		return quoted(func(b []byte, i int) []byte { return appendDate(b, floorDiv(int64(vals[i]), 86400e3)) })
	case *array.Time32:
		vals, unit := a.Values(), a.DataType().(*arrow.Time32Type).Unit
		return quoted(func(b []byte, i int) []byte { return appendTime(b, int64(vals[i]), unit) })
	case *array.Time64:
		vals, unit := a.Values(), a.DataType().(*arrow.Time64Type).Unit
		return quoted(func(b []byte, i int) []byte { return appendTime(b, int64(vals[i]), unit) })
	}
	return nil
}

func appendInts[T ~int8 | ~int16 | ~int32 | ~int64](vals []T) appendFunc {
	return func(b []byte, i int) []byte { return strconv.AppendInt(b, int64(vals[i]), 10) }
}

func appendUints[T ~uint8 | ~uint16 | ~uint32 | ~uint64](vals []T) appendFunc {
	return func(b []byte, i int) []byte { return strconv.AppendUint(b, uint64(vals[i]), 10) }
}

func appendStrings(value func(int) string, json bool) appendFunc {
	if json {
		return func(b []byte, i int) []byte { return appendJSONString(b, value(i)) }
	}
	return func(b []byte, i int) []byte { return append(b, value(i)...) }
}

func appendBase64(value func(int) []byte) appendFunc {
	return func(b []byte, i int) []byte { return base64.StdEncoding.AppendEncode(b, value(i)) }
}

// appendFloat appends v in the shortest form that reads back to the same
// float of bitSize bits; NaN and infinities as NaN, +Inf, -Inf (JSON strings
// when json, since JSON has no such numbers).
func appendFloat(b []byte, v float64, bitSize int, json bool) []byte {
	if json && (math.IsNaN(v) || math.IsInf(v, 0)) {
		b = append(b, '"')
		b = strconv.AppendFloat(b, v, 'g', -1, bitSize)
		return append(b, '"')
	}
	return strconv.AppendFloat(b, v, 'g', -1, bitSize)
}

// timestampLayouts give timestamps the precision of their unit.
var timestampLayouts = [...]string{
	arrow.Second:      "2006-01-02T15:04:05Z",
	arrow.Millisecond: "2006-01-02T15:04:05.000Z",
	arrow.Microsecond: "2006-01-02T15:04:05.000000Z",
	arrow.Nanosecond:  "2006-01-02T15:04:05.000000000Z",
}

// timeLayouts do the same for times of day.
var timeLayouts = [...]string{
	arrow.Second:      "15:04:05",
	arrow.Millisecond: "15:04:05.000",
	arrow.Microsecond: "15:04:05.000000",
	arrow.Nanosecond:  "15:04:05.000000000",
}

func toTime(v int64, unit arrow.TimeUnit) time.Time {
	switch unit {
	case arrow.Second:
		return time.Unix(v, 0).UTC()
	case arrow.Millisecond:
		return time.UnixMilli(v).UTC()
	case arrow.Microsecond:
		return time.UnixMicro(v).UTC()
	}
	return time.Unix(0, v).UTC()
}

// timestampFormat appends timestamps of one unit in ISO 8601 UTC with the
// unit's precision (timestampLayouts), whatever the column's time zone: Arrow
// stores instants as UTC.
//
// Hand-written rather than time.Time.AppendFormat, which took a third of
// BenchmarkEncode: the date is formatted by the time package only when the day
// changes (sensor rows come day by day), the time of day by digit arithmetic.
// TestTimestampFormat checks it against AppendFormat.
type timestampFormat struct {
	perSecond int64 // units per second
	digits    int   // fractional digits
	day       int64
	date      []byte // "2006-01-02T" of day; nil before the first value
}

func newTimestampFormat(unit arrow.TimeUnit) *timestampFormat {
	return &timestampFormat{perSecond: int64(time.Second / unit.Multiplier()), digits: 3 * int(unit)}
}

func (f *timestampFormat) append(b []byte, v int64) []byte {
	sec := floorDiv(v, f.perSecond)
	frac := v - sec*f.perSecond
	day := floorDiv(sec, 86400)
	if f.date == nil || day != f.day {
		f.day = day
		f.date = time.Unix(day*86400, 0).UTC().AppendFormat(f.date[:0], "2006-01-02T")
	}
	b = append(b, f.date...)
	sod := sec - day*86400
	b = append2(b, sod/3600)
	b = append(b, ':')
	b = append2(b, sod/60%60)
	b = append(b, ':')
	b = append2(b, sod%60)
	if f.digits > 0 {
		b = append(b, '.')
		start := len(b)
		for range f.digits {
			b = append(b, '0')
		}
		for i := len(b) - 1; i >= start && frac > 0; i-- {
			b[i] = byte('0' + frac%10)
			frac /= 10
		}
	}
	return append(b, 'Z')
}

// append2 appends 0 <= v < 100 in two digits.
func append2(b []byte, v int64) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }

func appendTime(b []byte, v int64, unit arrow.TimeUnit) []byte {
	return toTime(v, unit).AppendFormat(b, timeLayouts[unit])
}

func appendDate(b []byte, day int64) []byte {
	return time.Unix(day*86400, 0).UTC().AppendFormat(b, time.DateOnly)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// appendJSONString appends s as a JSON string, escaped as encoding/json does
// without its HTML escaping: quote, backslash and control characters, U+2028
// and U+2029, and invalid UTF-8 as U+FFFD. Hand-written because encoding/json
// has no append API: it allocates for every value, and nested columns have
// many.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
