package asi

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	json "github.com/goccy/go-json"
)

// StreamPreprocessed prefixes the preprocessed streams: one per group,
// asi.preprocessed.gnss, asi.preprocessed.ecg, ...
const StreamPreprocessed = "asi.preprocessed."

// groupField is a typed field of a known group.
type groupField struct {
	key  string
	kind kind // kFloat or kBool
	unit string
}

// knownGroups are the groups the public reference documents, with their
// fields' types and units. A field a known group gains later goes to _extra;
// a group nobody knows yet gets a column per field, typed from its values.
var knownGroups = map[string][]groupField{
	"gnss":   {{"longitude", kFloat, "deg"}, {"latitude", kFloat, "deg"}, {"speed", kFloat, "m/s"}, {"altitude", kFloat, "m"}},
	"ecg":    {{"hr", kFloat, "1/min"}},
	"pwr":    {{"pwr_cadence", kFloat, "1/min"}, {"pwr_instantpower", kFloat, "W"}},
	"device": {{"standstill", kBool, ""}, {"Bat_lvl", kFloat, "%"}},
}

// Every preprocessed row starts with these columns: provenance and time.
var (
	deviceIDField  = arrow.Field{Name: "device_id", Type: arrow.PrimitiveTypes.Int64}
	timestampField = arrow.Field{Name: "timestamp", Type: arrow.FixedWidthTypes.Timestamp_ms}
)

var knownSchemas = func() map[string]*arrow.Schema {
	m := map[string]*arrow.Schema{}
	for g, fields := range knownGroups {
		fs := []arrow.Field{deviceIDField, timestampField}
		for _, f := range fields {
			af := arrow.Field{Name: f.key, Type: f.kind.dataType(), Nullable: true}
			if f.unit != "" {
				af = withUnit(af, f.unit)
			}
			fs = append(fs, af)
		}
		fs = append(fs, arrow.Field{Name: extraColumn, Type: arrow.BinaryTypes.String, Nullable: true})
		m[g] = arrow.NewSchema(fs, nil)
	}
	return m
}()

// streamName returns the stream of a group; characters that do not belong in a
// file path become _.
func streamName(group string) string {
	b := []byte(group)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return StreamPreprocessed + string(b)
}

// floats accumulates a float64 column; valid is nil while no value is null.
type floats struct {
	vals  []float64
	valid []bool
}

func (f *floats) padTo(n int) {
	if len(f.vals) >= n {
		return
	}
	if f.valid == nil {
		f.valid = make([]bool, len(f.vals), n)
		for i := range f.valid {
			f.valid[i] = true
		}
	}
	for len(f.vals) < n {
		f.vals = append(f.vals, 0)
		f.valid = append(f.valid, false)
	}
}

func (f *floats) truncate(n int) {
	if len(f.vals) > n {
		f.vals = f.vals[:n]
	}
	if len(f.valid) > n {
		f.valid = f.valid[:n]
	}
}

// groupRows accumulates the rows of one group over the messages of a page.
type groupRows struct {
	name    string
	known   []groupField // nil for a group nobody documents
	n       int
	ts      []arrow.Timestamp
	nums    []floats                     // known float fields, by index in known
	bools   [][]json.RawMessage          // known bool fields' elements, by index (nil entries for float fields)
	extra   []string                     // known groups: per-row JSON of unknown fields ("" none); nil while none
	dyn     map[string][]json.RawMessage // unknown groups: elements per field (nil: null)
	hint    int                          // messages in the page, to size the columns
	scratch []float64                    // timestamps of the message being added
}

// reserve makes room for rows rows in the timestamps and float columns.
func (g *groupRows) reserve(rows int) {
	g.ts = slices.Grow(g.ts, rows)
	for i := range g.nums {
		if g.known[i].kind == kFloat {
			g.nums[i].vals = slices.Grow(g.nums[i].vals, rows)
		}
	}
}

func newGroupRows(name string) *groupRows {
	g := &groupRows{name: name, known: knownGroups[name]}
	if g.known != nil {
		g.nums = make([]floats, len(g.known))
		g.bools = make([][]json.RawMessage, len(g.known))
	} else {
		g.dyn = map[string][]json.RawMessage{}
	}
	return g
}

// member is one key and raw value of a JSON object.
type member struct {
	key   string
	value []byte
}

// add appends the samples of one message's group. When the group is invalid
// (no timestamps, arrays of different lengths) it appends nothing and says why.
func (g *groupRows) add(raw json.RawMessage) error {
	var (
		tsRaw   []byte
		hasTS   bool
		fields  = make([][]byte, len(g.known)) // known fields' values, by index
		unknown []member                       // fields without a typed column
	)
	err := members(raw, func(key, value []byte) error {
		if string(key) == "timestamp" {
			tsRaw, hasTS = value, true
			return nil
		}
		for i, f := range g.known {
			if f.key == string(key) {
				fields[i] = value
				return nil
			}
		}
		unknown = append(unknown, member{string(key), value})
		return nil
	})
	if err != nil {
		return fmt.Errorf("group %s is not a JSON object", g.name)
	}
	if !hasTS {
		return fmt.Errorf("group %s has no timestamp array", g.name)
	}
	tsv, tsValid, ok := parseNumbers(tsRaw, g.scratch[:0], nil)
	g.scratch = tsv
	if !ok || slices.Contains(tsValid, false) {
		return fmt.Errorf("group %s: timestamp is not an array of UNIX milliseconds without nulls", g.name)
	}
	n := len(tsv)
	if n == 0 {
		return nil
	}
	if g.n == 0 && g.hint > 1 {
		// The page's first sample of this group: make room for the page,
		// assuming the other messages hold as many samples.
		g.reserve(n * g.hint)
	}
	for _, t := range tsv {
		if math.IsNaN(t) || math.Abs(t) > 1e15 {
			return fmt.Errorf("group %s: timestamp %v out of range", g.name, t)
		}
	}
	n0 := g.n
	rollback := func(err error) error {
		for i := range g.nums {
			g.nums[i].truncate(n0)
		}
		for i := range g.bools {
			if len(g.bools[i]) > n0 {
				g.bools[i] = g.bools[i][:n0]
			}
		}
		if len(g.extra) > n0 {
			g.extra = g.extra[:n0]
		}
		for k, v := range g.dyn {
			if len(v) > n0 {
				g.dyn[k] = v[:n0]
			}
		}
		return err
	}
	var other map[string][]json.RawMessage // fields without a typed column here
	keep := func(k string, elems []json.RawMessage) {
		if other == nil {
			other = map[string][]json.RawMessage{}
		}
		other[k] = elems
	}
	if g.known != nil {
		for i, f := range g.known {
			fr := fields[i]
			if fr == nil || string(bytes.TrimSpace(fr)) == "null" {
				continue
			}
			if f.kind == kFloat {
				g.nums[i].padTo(n0)
				vals, valid, ok := parseNumbers(fr, g.nums[i].vals, g.nums[i].valid)
				if ok && len(vals)-n0 == n {
					g.nums[i].vals, g.nums[i].valid = vals, valid
					continue
				}
				g.nums[i].truncate(n0)
			} else if elems, err := elements(fr); err == nil && len(elems) == n {
				g.bools[i] = append(padRaw(g.bools[i], n0), elems...)
				continue
			}
			// Not the documented type or length: keep the values in _extra.
			elems, err := elements(fr)
			if err != nil || len(elems) != n {
				return rollback(fmt.Errorf("group %s: %s has %s values, timestamp %d", g.name, f.key, countOf(elems, err), n))
			}
			keep(f.key, elems)
		}
	}
	for _, u := range unknown {
		k, fr := u.key, u.value
		elems, err := elements(fr)
		if err != nil || len(elems) != n {
			return rollback(fmt.Errorf("group %s: %s has %s values, timestamp %d", g.name, k, countOf(elems, err), n))
		}
		keep(k, elems)
	}
	if g.known == nil {
		for k, elems := range other {
			g.dyn[k] = append(padRaw(g.dyn[k], n0), elems...)
		}
	} else if len(other) > 0 {
		keys := make([]string, 0, len(other))
		for k := range other {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		quoted := make([][]byte, len(keys))
		for i, k := range keys {
			quoted[i], _ = json.Marshal(k)
		}
		g.extra = padStrings(g.extra, n0)
		// Each row's object is written directly (keys sorted once): building a
		// map and encoding it per sample cost more than the samples themselves.
		var buf []byte
		for j := range n {
			buf = append(buf[:0], '{')
			for i, k := range keys {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, quoted[i]...)
				buf = append(buf, ':')
				var err error
				if buf, err = appendCompact(buf, other[k][j]); err != nil {
					return rollback(fmt.Errorf("group %s: %s: %w", g.name, k, err))
				}
			}
			g.extra = append(g.extra, string(append(buf, '}')))
		}
	}
	for _, t := range tsv {
		g.ts = append(g.ts, arrow.Timestamp(math.Round(t)))
	}
	g.n += n
	return nil
}

// appendCompact appends a JSON value without insignificant whitespace.
func appendCompact(buf []byte, v json.RawMessage) ([]byte, error) {
	if len(v) == 0 {
		return append(buf, "null"...), nil
	}
	if !bytes.ContainsAny(v, " \t\n\r") {
		return append(buf, v...), nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return buf, err
	}
	return append(buf, b.Bytes()...), nil
}

func padRaw(s []json.RawMessage, n int) []json.RawMessage {
	for len(s) < n {
		s = append(s, nil)
	}
	return s
}

func padStrings(s []string, n int) []string {
	for len(s) < n {
		s = append(s, "")
	}
	return s
}

func countOf(elems []json.RawMessage, err error) string {
	if err != nil {
		return "no array of"
	}
	return fmt.Sprint(len(elems))
}

// elements splits a JSON array into its elements.
func elements(raw json.RawMessage) ([]json.RawMessage, error) {
	var out []json.RawMessage
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// build returns the group's rows as a record of the device; the caller owns
// it. The rows are cleared.
//
// The device id, timestamp and float columns wrap the group's own slices
// (handed over: the rows are cleared, never written again) instead of being
// copied through builders, and a known group's record has its shared schema
// (so sinks comparing schemas find the same pointer): on the live benchmark
// (1,100 sockets, one message each per record) the builders, their
// allocations and a new schema per message were 40% of the source's decode
// CPU. Such buffers are Go memory outside mem.
func (g *groupRows) build(mem memory.Allocator, device int64) arrow.RecordBatch {
	n := g.n
	var fields []arrow.Field
	var cols []arrow.Array
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	add := func(f arrow.Field, a arrow.Array) {
		fields = append(fields, f)
		cols = append(cols, a)
	}
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = device
	}
	add(deviceIDField, goArray(deviceIDField.Type, n, arrow.Int64Traits.CastToBytes(ids), nil))
	add(timestampField, goArray(timestampField.Type, n, arrow.TimestampTraits.CastToBytes(g.ts[:n]), nil))

	var schema *arrow.Schema
	if g.known != nil {
		schema = knownSchemas[g.name]
		for i, f := range g.known {
			if f.kind == kFloat {
				g.nums[i].padTo(n)
				add(schema.Field(2+i), goArray(arrow.PrimitiveTypes.Float64, n,
					arrow.Float64Traits.CastToBytes(g.nums[i].vals[:n]), g.nums[i].valid))
				continue
			}
			add(schema.Field(2+i), boolArray(mem, padRaw(g.bools[i], n)))
		}
		extra := schema.Field(len(schema.Fields()) - 1)
		if g.extra == nil {
			add(extra, array.MakeArrayOfNull(mem, extra.Type, n))
		} else {
			sb := array.NewStringBuilder(mem)
			for _, s := range padStrings(g.extra, n) {
				if s == "" {
					sb.AppendNull()
				} else {
					sb.Append(s)
				}
			}
			add(extra, sb.NewArray())
			sb.Release()
		}
	} else {
		keys := make([]string, 0, len(g.dyn))
		for k := range g.dyn {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			f, a := inferColumn(mem, k, padRaw(g.dyn[k], n))
			add(f, a)
		}
		schema = arrow.NewSchema(fields, nil)
	}
	rec := array.NewRecordBatch(schema, cols, int64(n))
	*g = *newGroupRows(g.name)
	return rec
}

// goArray returns a fixed-width array of n values over values (Go memory,
// not copied); valid (nil: all valid) marks the non-null ones.
func goArray(dt arrow.DataType, n int, values []byte, valid []bool) arrow.Array {
	var bitmap *memory.Buffer
	nulls := 0
	if valid != nil {
		bits := make([]byte, bitutil.BytesForBits(int64(n)))
		for i, ok := range valid[:n] {
			if ok {
				bitutil.SetBit(bits, i)
			} else {
				nulls++
			}
		}
		bitmap = memory.NewBufferBytes(bits)
	}
	data := array.NewData(dt, n, []*memory.Buffer{bitmap, memory.NewBufferBytes(values)}, nil, nulls, 0)
	defer data.Release()
	return array.MakeFromData(data)
}

// boolArray decodes elements that are true, false, 1, 0 or null.
func boolArray(mem memory.Allocator, elems []json.RawMessage) arrow.Array {
	b := array.NewBooleanBuilder(mem)
	defer b.Release()
	for _, e := range elems {
		switch string(bytes.TrimSpace(e)) {
		case "true", "1":
			b.Append(true)
		case "false", "0":
			b.Append(false)
		default:
			b.AppendNull()
		}
	}
	return b.NewArray()
}

// inferColumn types the column of an undocumented field from its values:
// numbers become float64, booleans bool, strings string; anything else (or a
// mix) the JSON text of each value.
func inferColumn(mem memory.Allocator, name string, elems []json.RawMessage) (arrow.Field, arrow.Array) {
	k := kind(255)
	for _, e := range elems {
		e = bytes.TrimSpace(e)
		if len(e) == 0 || string(e) == "null" {
			continue
		}
		var ek kind
		switch c := e[0]; {
		case c == '"':
			ek = kString
		case c == 't' || c == 'f':
			ek = kBool
		case c == '-' || (c >= '0' && c <= '9'):
			ek = kFloat
		default:
			ek = kJSON
		}
		if k == 255 {
			k = ek
		} else if k != ek {
			k = kJSON
		}
	}
	if k == 255 {
		k = kFloat // only nulls
	}
	f := arrow.Field{Name: name, Type: k.dataType(), Nullable: true}
	b := array.NewBuilder(mem, f.Type)
	defer b.Release()
	for _, e := range elems {
		v, ok := decodeValue(e, k)
		if !ok {
			v = value{null: true}
		}
		appendValue(b, k, v)
	}
	return f, b.NewArray()
}

// pageRows is one page of preprocessed messages, split into groups.
type pageRows struct {
	groups  map[string]*groupRows
	rejects []reject
}

// decodePage decodes the messages of a page, keeping the groups selected by
// want (nil: all).
func decodePage(results []json.RawMessage, want func(string) bool) *pageRows {
	p := &pageRows{groups: map[string]*groupRows{}}
	var groups []member
	for _, msg := range results {
		groups = groups[:0]
		if err := members(msg, func(key, value []byte) error {
			if want == nil || want(string(key)) {
				groups = append(groups, member{string(key), value})
			}
			return nil
		}); err != nil {
			p.rejects = append(p.rejects, reject{raw: msg, reason: "message is not a JSON object"})
			continue
		}
		// Dead letters in a stable order.
		slices.SortFunc(groups, func(a, b member) int { return strings.Compare(a.key, b.key) })
		for _, gm := range groups {
			g := p.groups[gm.key]
			if g == nil {
				g = newGroupRows(gm.key)
				g.hint = len(results)
				p.groups[gm.key] = g
			}
			if err := g.add(gm.value); err != nil {
				p.rejects = append(p.rejects, reject{raw: gm.value, reason: err.Error()})
			}
		}
	}
	return p
}

// names returns the page's groups with rows, sorted.
func (p *pageRows) names() []string {
	var out []string
	for name, g := range p.groups {
		if g.n > 0 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// groupSelector returns the want function of the groups option.
func groupSelector(groups []string) func(string) bool {
	if len(groups) == 0 {
		return nil
	}
	return func(g string) bool {
		return slices.ContainsFunc(groups, func(s string) bool { return strings.EqualFold(s, g) })
	}
}
