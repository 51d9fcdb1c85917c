package generate

import (
	"hash/fnv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Arrays are built straight into buffers from the allocator rather than through
// array builders, with no per-value call: the runner's benchmark needs 5 M rows/s
// end to end, and this way BenchmarkRead makes about 19 M rows/s of the default
// columns on one core of the development machine.

// unitColumn is the provenance column every record starts with.
const unitColumn = "unit"

type kind int

const (
	kindIndex kind = iota
	kindInt64
	kindInt32
	kindFloat64
	kindFloat32
	kindBool
	kindString
	kindTimestampMs
	kindTimestampUs
	kindDate
	kindListFloat64
	kindStruct
)

// kindNames lists the column types in the order error messages show them.
var kindNames = []string{
	"index", "int64", "int32", "float64", "float32", "bool", "string",
	"timestamp_ms", "timestamp_us", "date", "list_float64", "struct",
}

var kindByName = func() map[string]kind {
	m := make(map[string]kind, len(kindNames))
	for i, n := range kindNames {
		m[n] = kind(i)
	}
	return m
}()

var structType = arrow.StructOf(
	arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
)

func (k kind) dataType() arrow.DataType {
	switch k {
	case kindIndex, kindInt64:
		return arrow.PrimitiveTypes.Int64
	case kindInt32:
		return arrow.PrimitiveTypes.Int32
	case kindFloat64:
		return arrow.PrimitiveTypes.Float64
	case kindFloat32:
		return arrow.PrimitiveTypes.Float32
	case kindBool:
		return arrow.FixedWidthTypes.Boolean
	case kindString:
		return arrow.BinaryTypes.String
	case kindTimestampMs:
		return arrow.FixedWidthTypes.Timestamp_ms
	case kindTimestampUs:
		return arrow.FixedWidthTypes.Timestamp_us
	case kindDate:
		return arrow.FixedWidthTypes.Date32
	case kindListFloat64:
		return arrow.ListOf(arrow.PrimitiveTypes.Float64)
	case kindStruct:
		return structType
	}
	panic("generate: unknown kind")
}

// vocabulary holds the values of string columns: 8 adjectives x 8 activities, with
// a comma, double quotes and non-ASCII letters among them so that sinks' escaping
// and UTF-8 handling get exercised.
var vocabulary = func() []string {
	adjectives := []string{"easy", "steady", "brisk", "long", "tempo", "hard", "après", "recovery"}
	activities := []string{"walk", "run", "ride", "swim", "row", "hike", "yoga", `intervals, "4x4"`}
	out := make([]string, 0, len(adjectives)*len(activities))
	for _, a := range adjectives {
		for _, b := range activities {
			out = append(out, a+" "+b)
		}
	}
	return out
}()

// vocabularyBits is log2(len(vocabulary)): a value's top bits pick its word.
const vocabularyBits = 6

// Timestamps and dates start here; row i of a unit is i seconds later.
var (
	epochMs   = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	epochDays = epochMs / (24 * 3600 * 1000)
)

// gamma is splitmix64's increment (the golden ratio in 64 bits).
const gamma = 0x9e3779b97f4a7c15

// mix64 is splitmix64's finaliser: a bijection of uint64 whose output looks random
// for any sequence of inputs. Value j of a stream keyed k is mix64(k + j*gamma),
// which is splitmix64 itself read at position j, so any row can be computed
// without the rows before it. Hand-written because math/rand/v2's generators are
// sequential and cannot jump to a row.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Sub-streams of one column.
const (
	subValues = iota + 1
	subNulls
	subElements
	subStructA
	subStructB
)

// column is one configured column, ready to generate.
type column struct {
	field     arrow.Field
	kind      kind
	name      uint64 // hash of the column's name: keys its streams
	threshold uint64 // a row is null when its null stream is below threshold
	allNull   bool
}

func newColumn(c Column) column {
	k := kindByName[c.Type]
	var md arrow.Metadata
	if c.Unit != "" {
		md = arrow.NewMetadata([]string{"unit"}, []string{c.Unit})
	}
	h := fnv.New64a()
	h.Write([]byte(c.Name))
	col := column{
		field: arrow.Field{Name: c.Name, Type: k.dataType(), Nullable: c.Nulls > 0, Metadata: md},
		kind:  k,
		name:  h.Sum64(),
	}
	switch {
	case c.Nulls >= 1:
		col.allNull = true
	case c.Nulls > 0:
		// c.Nulls < 1, so the product is below 2^64 and converts exactly enough.
		col.threshold = uint64(c.Nulls * (1 << 64))
	}
	return col
}

// key returns the key of one sub-stream of column c in unit u.
func (c *column) key(seed int64, u int, sub uint64) uint64 {
	k := mix64(uint64(seed) ^ 0x5eed5eed5eed5eed)
	k = mix64(k ^ uint64(u))
	k = mix64(k ^ c.name)
	return mix64(k ^ sub)
}

// batch describes the rows being built: rows start..start+n of unit u.
type batch struct {
	mem   memory.Allocator
	seed  int64
	unit  int
	start uint64
	n     int
}

// newBuffer allocates a buffer of size bytes from the batch's allocator.
func (b *batch) newBuffer(size int) *memory.Buffer {
	buf := memory.NewResizableBuffer(b.mem)
	buf.Resize(size)
	return buf
}

// validity builds c's validity bitmap for the batch: nil (and 0 nulls) when the
// column has no nulls.
func (b *batch) validity(c *column) (*memory.Buffer, int) {
	if c.threshold == 0 && !c.allNull {
		return nil, 0
	}
	buf := b.newBuffer(int(bitutil.BytesForBits(int64(b.n))))
	bits := buf.Bytes()
	clear(bits)
	if c.allNull {
		return buf, b.n
	}
	k := c.key(b.seed, b.unit, subNulls)
	nulls := 0
	for j := range b.n {
		if mix64(k+(b.start+uint64(j))*gamma) < c.threshold {
			nulls++
		} else {
			bits[j>>3] |= 1 << (j & 7)
		}
	}
	return buf, nulls
}

// build returns c's array for the batch.
func (b *batch) build(c *column) arrow.Array {
	d := b.data(c)
	defer d.Release()
	return array.MakeFromData(d)
}

// data builds c's array data for the batch.
func (b *batch) data(c *column) *array.Data {
	valid, nulls := b.validity(c)
	if valid != nil {
		defer valid.Release() // the array data keeps its own reference
	}
	var bits []byte // nil: every row valid
	if valid != nil {
		bits = valid.Bytes()
	}
	k := c.key(b.seed, b.unit, subValues)
	fixed := func(values *memory.Buffer) *array.Data {
		defer values.Release()
		return array.NewData(c.field.Type, b.n, []*memory.Buffer{valid, values}, nil, nulls, 0)
	}
	switch c.kind {
	case kindIndex:
		buf := b.newBuffer(b.n * 8)
		vals := arrow.Int64Traits.CastFromBytes(buf.Bytes())
		for j := range vals {
			vals[j] = int64(b.start) + int64(j)
		}
		return fixed(buf)
	case kindInt64:
		buf := b.newBuffer(b.n * 8)
		vals := arrow.Int64Traits.CastFromBytes(buf.Bytes())
		for j := range vals {
			vals[j] = int64(mix64(k + (b.start+uint64(j))*gamma))
		}
		return fixed(buf)
	case kindInt32:
		buf := b.newBuffer(b.n * 4)
		vals := arrow.Int32Traits.CastFromBytes(buf.Bytes())
		for j := range vals {
			vals[j] = int32(mix64(k+(b.start+uint64(j))*gamma) >> 32)
		}
		return fixed(buf)
	case kindFloat64:
		buf := b.newBuffer(b.n * 8)
		vals := arrow.Float64Traits.CastFromBytes(buf.Bytes())
		for j := range vals {
			vals[j] = thousandths(mix64(k + (b.start+uint64(j))*gamma))
		}
		return fixed(buf)
	case kindFloat32:
		buf := b.newBuffer(b.n * 4)
		vals := arrow.Float32Traits.CastFromBytes(buf.Bytes())
		for j := range vals {
			vals[j] = float32(mix64(k+(b.start+uint64(j))*gamma)%100_000) / 100
		}
		return fixed(buf)
	case kindBool:
		buf := b.newBuffer(int(bitutil.BytesForBits(int64(b.n))))
		out := buf.Bytes()
		clear(out)
		for j := range b.n {
			if mix64(k+(b.start+uint64(j))*gamma)&1 == 1 {
				out[j>>3] |= 1 << (j & 7)
			}
		}
		return fixed(buf)
	case kindTimestampMs:
		buf := b.newBuffer(b.n * 8)
		vals := arrow.TimestampTraits.CastFromBytes(buf.Bytes())
		for j := range vals {
			i := b.start + uint64(j)
			vals[j] = arrow.Timestamp(epochMs + int64(i)*1000 + int64(mix64(k+i*gamma)%1000))
		}
		return fixed(buf)
	case kindTimestampUs:
		buf := b.newBuffer(b.n * 8)
		vals := arrow.TimestampTraits.CastFromBytes(buf.Bytes())
		for j := range vals {
			i := b.start + uint64(j)
			vals[j] = arrow.Timestamp(epochMs*1000 + int64(i)*1_000_000 + int64(mix64(k+i*gamma)%1_000_000))
		}
		return fixed(buf)
	case kindDate:
		buf := b.newBuffer(b.n * 4)
		vals := arrow.Date32Traits.CastFromBytes(buf.Bytes())
		for j := range vals {
			vals[j] = arrow.Date32(epochDays + int64(b.start+uint64(j))/86400)
		}
		return fixed(buf)
	case kindString:
		offsets, data := b.strings(k, bits)
		defer offsets.Release()
		defer data.Release()
		return array.NewData(c.field.Type, b.n, []*memory.Buffer{valid, offsets, data}, nil, nulls, 0)
	case kindListFloat64:
		offsets, child := b.list(c, k, bits)
		defer offsets.Release()
		defer child.Release()
		return array.NewData(c.field.Type, b.n, []*memory.Buffer{valid, offsets}, []arrow.ArrayData{child}, nulls, 0)
	case kindStruct:
		// The children have no nulls of their own and their own streams.
		a := column{field: structType.Field(0), kind: kindInt64, name: mix64(c.name ^ subStructA)}
		s := column{field: structType.Field(1), kind: kindString, name: mix64(c.name ^ subStructB)}
		children := []arrow.ArrayData{b.data(&a), b.data(&s)}
		defer children[0].Release()
		defer children[1].Release()
		return array.NewData(c.field.Type, b.n, []*memory.Buffer{valid}, children, nulls, 0)
	}
	panic("generate: unknown kind")
}

// thousandths maps x to 0.000..999.999 in steps of 0.001: short, exactly printable
// values, like a measurement in metres.
func thousandths(x uint64) float64 { return float64(x%1_000_000) / 1000 }

// strings builds the offsets and bytes of a string array of words from
// vocabulary picked by the stream keyed k; rows whose bit in bits is clear are
// empty (they are null). The caller owns both buffers.
func (b *batch) strings(k uint64, bits []byte) (offsets, data *memory.Buffer) {
	offsets = b.newBuffer((b.n + 1) * 4)
	offs := arrow.Int32Traits.CastFromBytes(offsets.Bytes())
	// Two passes (sizes, then bytes) recompute the cheap hash rather than keep
	// the picks in a scratch slice.
	total := int32(0)
	offs[0] = 0
	for j := range b.n {
		if bits == nil || bits[j>>3]&(1<<(j&7)) != 0 {
			total += int32(len(vocabulary[mix64(k+(b.start+uint64(j))*gamma)>>(64-vocabularyBits)]))
		}
		offs[j+1] = total
	}
	data = b.newBuffer(int(total))
	out := data.Bytes()
	for j := range b.n {
		if offs[j+1] != offs[j] {
			copy(out[offs[j]:], vocabulary[mix64(k+(b.start+uint64(j))*gamma)>>(64-vocabularyBits)])
		}
	}
	return offsets, data
}

// maxListLen is the longest list a list_float64 row holds.
const maxListLen = 4

// list builds the offsets and the float64 child of a list_float64 array: each
// valid row has 0..maxListLen elements. The caller owns both.
func (b *batch) list(c *column, k uint64, bits []byte) (offsets *memory.Buffer, child *array.Data) {
	offsets = b.newBuffer((b.n + 1) * 4)
	offs := arrow.Int32Traits.CastFromBytes(offsets.Bytes())
	total := int32(0)
	offs[0] = 0
	for j := range b.n {
		if bits == nil || bits[j>>3]&(1<<(j&7)) != 0 {
			total += int32(mix64(k+(b.start+uint64(j))*gamma) % (maxListLen + 1))
		}
		offs[j+1] = total
	}
	ek := c.key(b.seed, b.unit, subElements)
	values := b.newBuffer(int(total) * 8)
	defer values.Release()
	vals := arrow.Float64Traits.CastFromBytes(values.Bytes())
	for j := range b.n {
		i := b.start + uint64(j)
		for e := range offs[j+1] - offs[j] {
			vals[offs[j]+e] = thousandths(mix64(ek + (i*maxListLen+uint64(e))*gamma))
		}
	}
	return offsets, array.NewData(arrow.PrimitiveTypes.Float64, int(total), []*memory.Buffer{nil, values}, nil, 0, 0)
}

// unitStrings builds the provenance column: id repeated n times.
func (b *batch) unitStrings(id string) arrow.Array {
	offsets := b.newBuffer((b.n + 1) * 4)
	defer offsets.Release()
	offs := arrow.Int32Traits.CastFromBytes(offsets.Bytes())
	data := b.newBuffer(b.n * len(id))
	defer data.Release()
	out := data.Bytes()
	l := int32(len(id))
	for j := range b.n {
		offs[j] = int32(j) * l
		copy(out[j*len(id):], id)
	}
	offs[b.n] = int32(b.n) * l
	d := array.NewData(arrow.BinaryTypes.String, b.n, []*memory.Buffer{nil, offsets, data}, nil, 0, 0)
	defer d.Release()
	return array.MakeFromData(d)
}
