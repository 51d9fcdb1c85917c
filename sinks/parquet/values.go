package parquet

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/parquet-go/parquet-go/format"
	"github.com/parquet-go/parquet-go/hashprobe"
)

// This file holds the values of a leaf column: those of the open page, PLAIN
// or dictionary indexes, the column chunk's dictionary, and its statistics.
// There is one type per Parquet physical type: fixedColumn for INT32, INT64,
// FLOAT and DOUBLE, boolColumn, bytesColumn for BYTE_ARRAY. Values arrive in
// batches (a run of present values of an Arrow array), so that the costs per
// value are a copy, a hash probe or a comparison, never a call.

// dictionaryTableLoad is the load of the dictionaries' hash tables, as
// parquet-go's own dictionaries use them.
const dictionaryTableLoad = 0.85

// maxStatisticsBytes is the longest BYTE_ARRAY min or max written to a
// column chunk's statistics, as Arrow C++ (pyarrow) writes them: a chunk whose
// min or max is longer gets none, rather than a footer holding whole documents.
const maxStatisticsBytes = 4096

// order is how the values of a column compare, for min and max statistics:
// as the Parquet spec orders each logical type.
type order uint8

const (
	signedOrder   order = iota // INT(_, true), DATE, TIMESTAMP
	unsignedOrder              // INT(_, false): the bits compare as unsigned
	floatOrder                 // FLOAT, DOUBLE: NaN is left out
)

// nativeLittleEndian tells whether values can be copied into PLAIN pages as
// they are in memory (Parquet is little-endian).
var nativeLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// fixedValue is a Parquet fixed-width physical type's Go representation.
type fixedValue interface {
	int32 | int64 | float32 | float64
}

// prober is a hashprobe table of T: Probe sets values[i] to the index of
// keys[i], giving new keys the next indexes in order, and returns how many
// keys were new.
type prober[T fixedValue] interface {
	Probe(keys []T, values []int32) int
	Reset()
}

func newProber[T fixedValue]() prober[T] {
	var p any
	switch any(*new(T)).(type) {
	case int32:
		p = hashprobe.NewInt32Table(0, dictionaryTableLoad)
	case int64:
		p = hashprobe.NewInt64Table(0, dictionaryTableLoad)
	case float32:
		p = hashprobe.NewFloat32Table(0, dictionaryTableLoad)
	case float64:
		p = hashprobe.NewFloat64Table(0, dictionaryTableLoad)
	}
	return p.(prober[T])
}

// fixedColumn is a leaf column of INT32, INT64, FLOAT or DOUBLE values.
type fixedColumn[T fixedValue] struct {
	chunk
	order order

	plain []T     // the open page's values, when not dictionary-encoded
	idx   []int32 // the open page's dictionary indexes

	dict  []T // the chunk's dictionary, in index order
	table prober[T]

	// Statistics of the chunk's values: of its PLAIN pages' values and
	// of its dictionary's entries, each of which some value refers to.
	has      bool
	min, max T
}

func newFixedColumn[T fixedValue](o order) *fixedColumn[T] {
	return &fixedColumn[T]{order: o}
}

func (c *fixedColumn[T]) base() *chunk { return &c.chunk }

func (c *fixedColumn[T]) size() int { return int(unsafe.Sizeof(*new(T))) }

// add appends present values to the open page.
func (c *fixedColumn[T]) add(vals []T) {
	if len(vals) == 0 {
		return
	}
	if !c.useDict {
		c.plain = append(c.plain, vals...)
		c.observe(vals)
		return
	}
	if c.table == nil {
		c.table = newProber[T]()
	}
	// The table grows to hold every key of a probe, so probe in slices
	// of a bounded size.
	for len(vals) > 0 {
		n := min(len(vals), probeBatch)
		k := len(c.idx)
		c.idx = append(c.idx, make([]int32, n)...)
		idx := c.idx[k:]
		if c.table.Probe(vals[:n], idx) > 0 {
			first := len(c.dict)
			for j, x := range idx {
				if int(x) == len(c.dict) {
					c.dict = append(c.dict, vals[j])
				}
			}
			c.observe(c.dict[first:])
		}
		vals = vals[n:]
	}
}

// probeBatch is the most keys probed at once.
const probeBatch = 4096

// observe folds vals into the chunk's min and max.
func (c *fixedColumn[T]) observe(vals []T) {
	var lo, hi T
	var ok bool
	switch c.order {
	case floatOrder:
		lo, hi, ok = minMaxFloat(vals)
	case unsignedOrder:
		lo, hi, ok = minMaxUnsigned(vals)
	default:
		lo, hi, ok = minMax(vals)
	}
	if !ok {
		return
	}
	if !c.has {
		c.has, c.min, c.max = true, lo, hi
		return
	}
	if c.less(lo, c.min) {
		c.min = lo
	}
	if c.less(c.max, hi) {
		c.max = hi
	}
}

func (c *fixedColumn[T]) less(a, b T) bool {
	if c.order == unsignedOrder {
		switch a := any(a).(type) {
		case int32:
			return uint32(a) < uint32(any(b).(int32))
		case int64:
			return uint64(a) < uint64(any(b).(int64))
		}
	}
	return a < b
}

func (c *fixedColumn[T]) valueBytes() int {
	if c.useDict {
		return 4 * len(c.idx)
	}
	return c.size() * len(c.plain)
}

func (c *fixedColumn[T]) encodeValues(dst []byte, s *scratch) ([]byte, format.Encoding) {
	if c.useDict {
		dst = s.appendIndexes(dst, c.idx, len(c.dict))
		c.idx = c.idx[:0]
		return dst, format.RLEDictionary
	}
	if c.delta && len(c.plain) > 0 {
		if d, ok := appendDelta(s, dst, c.plain); ok {
			c.plain = c.plain[:0]
			return d, format.DeltaBinaryPacked
		}
	}
	if c.split && len(c.plain) > 0 {
		if d, ok := appendSplit(s, dst, c.plain); ok {
			c.plain = c.plain[:0]
			return d, format.ByteStreamSplit
		}
	}
	dst = appendPlain(dst, c.plain)
	c.plain = c.plain[:0]
	return dst, format.Plain
}

func (c *fixedColumn[T]) dictionaryPage(dst []byte) ([]byte, int) {
	return appendPlain(dst, c.dict), len(c.dict)
}

func (c *fixedColumn[T]) dictionaryBytes() int { return c.size() * len(c.dict) }

func (c *fixedColumn[T]) dictionaryLen() int { return len(c.dict) }

func (c *fixedColumn[T]) sampled() (present, distinct int) { return len(c.idx), len(c.dict) }

func (c *fixedColumn[T]) statistics(st *format.Statistics) {
	if !c.has {
		return
	}
	lo, hi := c.min, c.max
	if c.order == floatOrder {
		// The spec's rule for zeros: a min of zero is written -0 and a
		// max of zero +0, so that no reader skips a page holding the
		// other zero.
		if lo == 0 {
			lo = negativeZero[T]()
		}
		if hi == 0 {
			hi = 0
		}
	}
	st.MinValue = appendPlain(nil, []T{lo})
	st.MaxValue = appendPlain(nil, []T{hi})
}

func negativeZero[T fixedValue]() T {
	var z T
	switch p := any(&z).(type) {
	case *float32:
		*p = float32(math.Copysign(0, -1))
	case *float64:
		*p = math.Copysign(0, -1)
	}
	return z
}

func (c *fixedColumn[T]) resetChunk() {
	c.plain, c.idx, c.dict = c.plain[:0], c.idx[:0], c.dict[:0]
	if c.table != nil {
		c.table.Reset()
	}
	c.has = false
	var zero T
	c.min, c.max = zero, zero
}

// appendPlain appends vals PLAIN-encoded: little-endian, back to back.
func appendPlain[T fixedValue](dst []byte, vals []T) []byte {
	if len(vals) == 0 {
		return dst
	}
	size := int(unsafe.Sizeof(vals[0]))
	if nativeLittleEndian {
		return append(dst, unsafe.Slice((*byte)(unsafe.Pointer(&vals[0])), size*len(vals))...)
	}
	for _, v := range vals {
		switch v := any(v).(type) {
		case int32:
			dst = binary.LittleEndian.AppendUint32(dst, uint32(v))
		case int64:
			dst = binary.LittleEndian.AppendUint64(dst, uint64(v))
		case float32:
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
		case float64:
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
		}
	}
	return dst
}

// minMax returns the least and greatest of vals, which are ordered as Go
// orders them.
func minMax[T cmp.Ordered](vals []T) (lo, hi T, ok bool) {
	if len(vals) == 0 {
		return lo, hi, false
	}
	lo, hi = vals[0], vals[0]
	for _, v := range vals[1:] {
		lo = min(lo, v)
		hi = max(hi, v)
	}
	return lo, hi, true
}

// minMaxUnsigned is minMax of integers whose bits are unsigned.
func minMaxUnsigned[T fixedValue](vals []T) (lo, hi T, ok bool) {
	switch v := any(vals).(type) {
	case []int32:
		l, h, ok := minMax(unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(v))), len(v)))
		return any(int32(l)).(T), any(int32(h)).(T), ok
	case []int64:
		l, h, ok := minMax(unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(v))), len(v)))
		return any(int64(l)).(T), any(int64(h)).(T), ok
	}
	return minMax(vals)
}

// minMaxFloat is minMax without the NaNs; ok is false when every value is
// NaN. (Go's min and max return NaN when an operand is NaN, hence the
// comparisons; a -0 and a +0 compare equal and either may stay.)
func minMaxFloat[T fixedValue](vals []T) (lo, hi T, ok bool) {
	for _, v := range vals {
		switch {
		case v != v:
		case !ok:
			lo, hi, ok = v, v, true
		case v < lo:
			lo = v
		case v > hi:
			hi = v
		}
	}
	return lo, hi, ok
}

// boolColumn is a leaf column of BOOLEAN values, never dictionary-encoded.
type boolColumn struct {
	chunk
	vals                []byte // the open page's values, one 0 or 1 each
	seenFalse, seenTrue bool
}

func (c *boolColumn) base() *chunk { return &c.chunk }

func (c *boolColumn) add(v bool) {
	b := byte(0)
	if v {
		b = 1
		c.seenTrue = true
	} else {
		c.seenFalse = true
	}
	c.vals = append(c.vals, b)
}

func (c *boolColumn) valueBytes() int { return len(c.vals) }

// encodeValues bit-packs the values, least significant bit first, as PLAIN
// encodes booleans.
func (c *boolColumn) encodeValues(dst []byte, _ *scratch) ([]byte, format.Encoding) {
	for i := 0; i < len(c.vals); i += 8 {
		var b byte
		for j, v := range c.vals[i:min(i+8, len(c.vals))] {
			b |= v << j
		}
		dst = append(dst, b)
	}
	c.vals = c.vals[:0]
	return dst, format.Plain
}

func (c *boolColumn) dictionaryPage(dst []byte) ([]byte, int) { return dst, 0 }
func (c *boolColumn) dictionaryBytes() int                    { return 0 }
func (c *boolColumn) dictionaryLen() int                      { return 0 }

func (c *boolColumn) statistics(st *format.Statistics) {
	if !c.seenFalse && !c.seenTrue {
		return
	}
	lo, hi := byte(1), byte(0)
	if c.seenFalse {
		lo = 0
	}
	if c.seenTrue {
		hi = 1
	}
	st.MinValue, st.MaxValue = []byte{lo}, []byte{hi}
}

func (c *boolColumn) resetChunk() {
	c.vals = c.vals[:0]
	c.seenFalse, c.seenTrue = false, false
}

// bytesColumn is a leaf column of BYTE_ARRAY values.
type bytesColumn struct {
	chunk

	plain []byte  // the open page's values, PLAIN-encoded (length, bytes)
	idx   []int32 // the open page's dictionary indexes

	dict      map[string]int32 // the chunk's dictionary
	dictPlain []byte           // its entries in index order, PLAIN-encoded
	dictLen   int
	last      []byte // the value looked up last, and its index: runs of
	lastIdx   int32  // one value (a source or stream column) skip the map
	hasLast   bool

	has      bool
	min, max []byte // owned copies
}

func (c *bytesColumn) base() *chunk { return &c.chunk }

// add appends one present value; the column keeps nothing of v.
func (c *bytesColumn) add(v []byte) {
	if !c.useDict {
		c.plain = binary.LittleEndian.AppendUint32(c.plain, uint32(len(v)))
		c.plain = append(c.plain, v...)
		c.observe(v)
		return
	}
	if c.hasLast && bytes.Equal(v, c.last) {
		c.idx = append(c.idx, c.lastIdx)
		return
	}
	if c.dict == nil {
		c.dict = make(map[string]int32)
	}
	// The conversion in the index expression does not allocate.
	i, ok := c.dict[string(v)]
	if !ok {
		i = int32(c.dictLen)
		c.dict[string(v)] = i
		c.dictLen++
		c.dictPlain = binary.LittleEndian.AppendUint32(c.dictPlain, uint32(len(v)))
		c.dictPlain = append(c.dictPlain, v...)
		c.observe(v)
	}
	c.idx = append(c.idx, i)
	c.last, c.lastIdx, c.hasLast = append(c.last[:0], v...), i, true
}

func (c *bytesColumn) observe(v []byte) {
	if !c.has {
		c.has = true
		c.min, c.max = append(c.min[:0], v...), append(c.max[:0], v...)
		return
	}
	if bytes.Compare(v, c.min) < 0 {
		c.min = append(c.min[:0], v...)
	} else if bytes.Compare(v, c.max) > 0 {
		c.max = append(c.max[:0], v...)
	}
}

func (c *bytesColumn) valueBytes() int {
	if c.useDict {
		return 4 * len(c.idx)
	}
	return len(c.plain)
}

func (c *bytesColumn) encodeValues(dst []byte, s *scratch) ([]byte, format.Encoding) {
	if c.useDict {
		dst = s.appendIndexes(dst, c.idx, c.dictLen)
		c.idx = c.idx[:0]
		return dst, format.RLEDictionary
	}
	dst = append(dst, c.plain...)
	c.plain = c.plain[:0]
	return dst, format.Plain
}

func (c *bytesColumn) dictionaryPage(dst []byte) ([]byte, int) {
	return append(dst, c.dictPlain...), c.dictLen
}

func (c *bytesColumn) dictionaryBytes() int { return len(c.dictPlain) }

func (c *bytesColumn) dictionaryLen() int { return c.dictLen }

func (c *bytesColumn) sampled() (present, distinct int) { return len(c.idx), c.dictLen }

func (c *bytesColumn) statistics(st *format.Statistics) {
	if !c.has || len(c.min) > maxStatisticsBytes || len(c.max) > maxStatisticsBytes {
		return
	}
	// Non-nil even when empty: an empty string is a value.
	st.MinValue = append([]byte{}, c.min...)
	st.MaxValue = append([]byte{}, c.max...)
}

func (c *bytesColumn) resetChunk() {
	c.plain, c.idx, c.dictPlain = c.plain[:0], c.idx[:0], c.dictPlain[:0]
	clear(c.dict)
	c.dictLen, c.hasLast, c.has = 0, false, false
}
