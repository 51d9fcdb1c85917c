package files

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// DefaultPartition is the directory value of a partition key whose value is
// null or empty, as Hive, Spark and DuckDB spell it.
const DefaultPartition = "__HIVE_DEFAULT_PARTITION__"

type keyKind uint8

const (
	keyStream keyKind = iota // the batch's stream
	keyUnit                  // the batch's unit
	keyDate                  // UTC date of a timestamp or date column
	keyColumn                // a column's value as text
)

// partKey is one parsed entry of Options.PartitionBy.
type partKey struct {
	name   string // the key in the directory name, "k" of "k=v"
	kind   keyKind
	column string // keyDate: "" means the first timestamp (or date) column
}

// parseKey parses one partition_by entry:
//
//	stream        the batch's stream name
//	unit          the batch's unit of work
//	date          UTC date of the first timestamp column (or date column);
//	              DefaultPartition for a stream that has neither
//	date:COLUMN   UTC date of the named timestamp or date column
//	column:NAME   the named column's value (for columns called stream, unit or date)
//	NAME          the named column's value
func parseKey(s string) (partKey, error) {
	switch {
	case s == "":
		return partKey{}, fmt.Errorf("empty partition key")
	case s == "stream":
		return partKey{name: s, kind: keyStream}, nil
	case s == "unit":
		return partKey{name: s, kind: keyUnit}, nil
	case s == "date":
		return partKey{name: s, kind: keyDate}, nil
	case strings.HasPrefix(s, "date:"):
		col := strings.TrimPrefix(s, "date:")
		if col == "" {
			return partKey{}, fmt.Errorf("partition key %q names no column (want date:COLUMN)", s)
		}
		return partKey{name: "date", kind: keyDate, column: col}, nil
	case strings.HasPrefix(s, "column:"):
		col := strings.TrimPrefix(s, "column:")
		if col == "" {
			return partKey{}, fmt.Errorf("partition key %q names no column (want column:NAME)", s)
		}
		return partKey{name: col, kind: keyColumn, column: col}, nil
	default:
		return partKey{name: s, kind: keyColumn, column: s}, nil
	}
}

// keyValues is one partition key evaluated on one record: either one text for
// every row (constant), or a code per row and the text of each code.
type keyValues struct {
	constant bool
	text     string
	codes    []int32
	texts    []string
}

func constant(text string) keyValues { return keyValues{constant: true, text: text} }

// evaluate computes k's value for every row of rec.
func (k partKey) evaluate(stream, unit string, rec arrow.RecordBatch) (keyValues, error) {
	switch k.kind {
	case keyStream:
		return constant(stream), nil
	case keyUnit:
		return constant(unit), nil
	}
	schema := rec.Schema()
	idx := -1
	if k.kind == keyDate && k.column == "" {
		idx = firstTimeColumn(schema)
		if idx < 0 {
			// A stream without any time (a profile, say) has no date: its rows go
			// to the default partition, as Hive does with null keys, so that
			// partition_by: [stream, date] works for every stream of a source.
			return constant(DefaultPartition), nil
		}
	} else {
		ids := schema.FieldIndices(k.column)
		if len(ids) == 0 {
			return keyValues{}, fmt.Errorf("files: partition key %s: stream %q has no column %q", k, stream, k.column)
		}
		idx = ids[0]
	}
	col := rec.Column(idx)
	if k.kind == keyDate {
		kv, ok := dateValues(col)
		if !ok {
			return keyValues{}, fmt.Errorf("files: partition key %s: column %q of stream %q is %s, not a timestamp or date",
				k, k.column, stream, col.DataType())
		}
		return kv, nil
	}
	return columnValues(col), nil
}

// String returns the key as written in partition_by.
func (k partKey) String() string {
	switch {
	case k.kind == keyDate && k.column != "":
		return "date:" + k.column
	case k.kind == keyColumn && k.name != k.column:
		return "column:" + k.column
	}
	return k.name
}

// firstTimeColumn returns the index of the first timestamp column, else of the
// first date column, else -1.
func firstTimeColumn(s *arrow.Schema) int {
	date := -1
	for i, f := range s.Fields() {
		switch f.Type.ID() {
		case arrow.TIMESTAMP:
			return i
		case arrow.DATE32, arrow.DATE64:
			if date < 0 {
				date = i
			}
		}
	}
	return date
}

var unitsPerDay = [...]int64{
	arrow.Second:      86400,
	arrow.Millisecond: 86400e3,
	arrow.Microsecond: 86400e6,
	arrow.Nanosecond:  86400e9,
}

// dateValues evaluates the UTC day of each row of a timestamp or date array.
func dateValues(a arrow.Array) (keyValues, bool) {
	switch a := a.(type) {
	case *array.Timestamp:
		return dayValues(a.Values(), unitsPerDay[a.DataType().(*arrow.TimestampType).Unit], a), true
	case *array.Date32:
		return dayValues(a.Values(), 1, a), true
	case *array.Date64:
		return dayValues(a.Values(), 86400e3, a), true
	}
	return keyValues{}, false
}

// dayValues evaluates the day of each of vals, counted in units of which perDay
// make a day. The common case, every row on one day, is one tight loop.
func dayValues[T ~int32 | ~int64](vals []T, perDay int64, a arrow.Array) keyValues {
	if len(vals) > 0 && a.NullN() == 0 {
		lo := floorDiv(int64(vals[0]), perDay) * perDay
		same := true
		for _, v := range vals {
			// Unsigned difference: true exactly when lo <= v < lo+perDay.
			if uint64(int64(v)-lo) >= uint64(perDay) {
				same = false
				break
			}
		}
		if same {
			return constant(dateText(lo / perDay))
		}
	}
	days := make([]int64, len(vals))
	for i, v := range vals {
		days[i] = floorDiv(int64(v), perDay)
	}
	return valueKeys(days, a, dateText)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func dateText(day int64) string {
	return time.Unix(day*86400, 0).UTC().Format(time.DateOnly)
}

// columnValues evaluates a column's value as text on every row. Common types
// compare raw values; others fall back to the array's ValueStr.
func columnValues(a arrow.Array) keyValues {
	switch a := a.(type) {
	case *array.Int8:
		return valueKeys(a.Values(), a, formatInt[int8])
	case *array.Int16:
		return valueKeys(a.Values(), a, formatInt[int16])
	case *array.Int32:
		return valueKeys(a.Values(), a, formatInt[int32])
	case *array.Int64:
		return valueKeys(a.Values(), a, formatInt[int64])
	case *array.Uint8:
		return valueKeys(a.Values(), a, formatUint[uint8])
	case *array.Uint16:
		return valueKeys(a.Values(), a, formatUint[uint16])
	case *array.Uint32:
		return valueKeys(a.Values(), a, formatUint[uint32])
	case *array.Uint64:
		return valueKeys(a.Values(), a, formatUint[uint64])
	case *array.Float32:
		return valueKeys(a.Values(), a, func(v float32) string { return strconv.FormatFloat(float64(v), 'g', -1, 32) })
	case *array.Float64:
		// Compare bits, not values, so that NaN equals itself.
		bits := make([]uint64, a.Len())
		for i, v := range a.Values() {
			bits[i] = math.Float64bits(v)
		}
		return valueKeys(bits, a, func(b uint64) string { return strconv.FormatFloat(math.Float64frombits(b), 'g', -1, 64) })
	case *array.Boolean:
		vals := make([]bool, a.Len())
		for i := range vals {
			vals[i] = a.Value(i)
		}
		return valueKeys(vals, a, strconv.FormatBool)
	case *array.String:
		if a.NullN() == 0 && a.Len() > 0 {
			// The common case, one value for the whole batch, without a copy.
			v0, same := a.Value(0), true
			for i := 1; i < a.Len() && same; i++ {
				same = a.Value(i) == v0
			}
			if same {
				return constant(v0)
			}
		}
		return valueKeys(stringsOf(a.Len(), a.Value), a, identity)
	case *array.LargeString:
		return valueKeys(stringsOf(a.Len(), a.Value), a, identity)
	case *array.StringView:
		return valueKeys(stringsOf(a.Len(), a.Value), a, identity)
	case *array.Binary:
		return valueKeys(stringsOf(a.Len(), a.ValueString), a, base64Text)
	case *array.LargeBinary:
		return valueKeys(stringsOf(a.Len(), a.ValueString), a, base64Text)
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return valueKeys(a.Values(), a, func(v arrow.Timestamp) string { return timestampText(int64(v), unit) })
	case *array.Date32:
		return valueKeys(a.Values(), a, func(v arrow.Date32) string { return dateText(int64(v)) })
	case *array.Date64:
		return valueKeys(a.Values(), a, func(v arrow.Date64) string { return dateText(floorDiv(int64(v), 86400e3)) })
	case *array.Dictionary:
		return dictionaryValues(a)
	}
	vals := make([]string, a.Len())
	for i := range vals {
		vals[i] = a.ValueStr(i)
	}
	return valueKeys(vals, a, identity)
}

// dictionaryValues evaluates the dictionary's values once and maps each row's
// index to its value's code.
func dictionaryValues(a *array.Dictionary) keyValues {
	dict := columnValues(a.Dictionary())
	codes := make([]int32, a.Len())
	texts := dict.texts
	if dict.constant {
		texts = []string{dict.text}
	}
	nullCode := int32(-1)
	for i := range codes {
		switch {
		case a.IsNull(i) || a.Dictionary().IsNull(a.GetValueIndex(i)):
			if nullCode < 0 {
				nullCode = int32(len(texts))
				texts = append(texts, DefaultPartition)
			}
			codes[i] = nullCode
		case dict.constant:
			codes[i] = 0
		default:
			codes[i] = dict.codes[a.GetValueIndex(i)]
		}
	}
	return keyValues{codes: codes, texts: texts}
}

func stringsOf(n int, value func(int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = value(i)
	}
	return out
}

func identity(s string) string   { return s }
func base64Text(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func formatInt[T ~int8 | ~int16 | ~int32 | ~int64](v T) string {
	return strconv.FormatInt(int64(v), 10)
}

func formatUint[T ~uint8 | ~uint16 | ~uint32 | ~uint64](v T) string {
	return strconv.FormatUint(uint64(v), 10)
}

var timestampLayouts = [...]string{
	arrow.Second:      "2006-01-02T15:04:05Z",
	arrow.Millisecond: "2006-01-02T15:04:05.000Z",
	arrow.Microsecond: "2006-01-02T15:04:05.000000Z",
	arrow.Nanosecond:  "2006-01-02T15:04:05.000000000Z",
}

func timestampText(v int64, unit arrow.TimeUnit) string {
	var t time.Time
	switch unit {
	case arrow.Second:
		t = time.Unix(v, 0)
	case arrow.Millisecond:
		t = time.UnixMilli(v)
	case arrow.Microsecond:
		t = time.UnixMicro(v)
	default:
		t = time.Unix(0, v)
	}
	return t.UTC().Format(timestampLayouts[unit])
}

// valueKeys gives each distinct value of vals a code, in order of first
// appearance, and null rows the DefaultPartition code. A column with one value
// (the common case) costs one comparison per row and no allocation.
func valueKeys[T comparable](vals []T, a arrow.Array, text func(T) string) keyValues {
	if len(vals) == 0 {
		return keyValues{}
	}
	nulls := a.NullN() > 0
	var bitmap []byte
	if nulls {
		bitmap = a.NullBitmapBytes()
	}
	offset := a.Data().Offset()
	if !nulls {
		v0 := vals[0]
		same := true
		for _, v := range vals[1:] {
			if v != v0 {
				same = false
				break
			}
		}
		if same {
			return constant(text(v0))
		}
	}
	codes := make([]int32, len(vals))
	index := make(map[T]int32)
	var texts []string
	nullCode := int32(-1)
	for i, v := range vals {
		if nulls && !bitutil.BitIsSet(bitmap, offset+i) {
			if nullCode < 0 {
				nullCode = int32(len(texts))
				texts = append(texts, DefaultPartition)
			}
			codes[i] = nullCode
			continue
		}
		c, ok := index[v]
		if !ok {
			c = int32(len(texts))
			index[v] = c
			texts = append(texts, text(v))
		}
		codes[i] = c
	}
	if len(texts) == 1 {
		return constant(texts[0])
	}
	return keyValues{codes: codes, texts: texts}
}

// partitions evaluates every key on rec and returns the partition directory of
// each group of rows (slash-separated, relative to the root) and, when there
// are several groups, the group of each row.
func partitions(keys []partKey, stream, unit string, rec arrow.RecordBatch) (dirs []string, codes []int32, err error) {
	n := int(rec.NumRows())
	groups := [][]string{nil} // texts of each group so far
	for _, k := range keys {
		kv, err := k.evaluate(stream, unit, rec)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case kv.constant:
			for g := range groups {
				groups[g] = append(groups[g], kv.text)
			}
		case len(groups) == 1:
			prefix := groups[0]
			groups = make([][]string, len(kv.texts))
			for c, t := range kv.texts {
				groups[c] = append(append([]string(nil), prefix...), t)
			}
			codes = kv.codes
		default:
			// Combine each row's group so far with its code for this key.
			index := make(map[[2]int32]int32)
			var next [][]string
			for i := 0; i < n; i++ {
				pair := [2]int32{codes[i], kv.codes[i]}
				c, ok := index[pair]
				if !ok {
					c = int32(len(next))
					index[pair] = c
					next = append(next, append(append([]string(nil), groups[pair[0]]...), kv.texts[pair[1]]))
				}
				codes[i] = c
			}
			groups = next
		}
	}
	dirs = make([]string, len(groups))
	for g, texts := range groups {
		dirs[g] = partitionDir(keys, texts)
	}
	dirs, codes = compact(dirs, codes)
	return dirs, codes, nil
}

// compact numbers groups in order of first appearance among the rows, merges
// groups with the same directory (NaN payloads, repeated dictionary values) and
// drops groups no row has (unused dictionary values).
func compact(dirs []string, codes []int32) ([]string, []int32) {
	if codes == nil {
		return dirs, nil
	}
	remap := make([]int32, len(dirs))
	for i := range remap {
		remap[i] = -1
	}
	byDir := make(map[string]int32, len(dirs))
	var out []string
	for i, c := range codes {
		r := remap[c]
		if r < 0 {
			var ok bool
			if r, ok = byDir[dirs[c]]; !ok {
				r = int32(len(out))
				byDir[dirs[c]] = r
				out = append(out, dirs[c])
			}
			remap[c] = r
		}
		codes[i] = r
	}
	if len(out) == 1 {
		return out, nil
	}
	return out, codes
}

func partitionDir(keys []partKey, texts []string) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(Escape(k.name))
		b.WriteByte('=')
		if texts[i] == "" || texts[i] == DefaultPartition {
			b.WriteString(DefaultPartition)
		} else {
			b.WriteString(Escape(texts[i]))
		}
	}
	return b.String()
}

// Escape escapes a partition key or value for a directory name the way Hive's
// FileUtils.escapePathName does (and Spark and DuckDB undo): control
// characters and "#%'*/:=?\^{[]\x7f plus the double quote become %XX.
// Hand-written because no library does exactly this (url.PathEscape also
// escapes spaces and non-ASCII, which Hive readers would not undo).
func Escape(s string) string {
	i := 0
	for i < len(s) && !unsafeByte(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+8)
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if unsafeByte(c) {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

func unsafeByte(c byte) bool {
	if c < 0x20 || c == 0x7f {
		return true
	}
	switch c {
	case '"', '#', '%', '\'', '*', '/', ':', '=', '?', '\\', '^', '{', '[', ']':
		return true
	}
	return false
}
