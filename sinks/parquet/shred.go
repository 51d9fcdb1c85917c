package parquet

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	pq "github.com/parquet-go/parquet-go"
)

// This file turns Arrow arrays into Parquet leaf values with repetition and
// definition levels (Dremel "shredding"), column by column. It is written by
// hand because parquet-go has no Arrow support, and its generic row path
// (map[string]any rows) is both slow and wrong for optional lists: v0.32.0
// stores null for every element of an optional list written that way.
//
// Levels, for a field below parents that reached definition level d:
//   - a null value of a nullable field gets level d, a present one d+1
//     (a non-nullable field adds no level);
//   - a list adds a repeated group: an empty list gets the list's own level,
//     an element one more, plus its own if it is nullable;
//   - the first element of a list repeats at its parent's repetition level,
//     the others at the list's own (its depth among repeated fields).
//
// Top-level primitive columns and lists of primitives, the common case, take
// bulk paths (writeRows) that fill value buffers by index; everything else
// goes value by value (write).

// state is shared by every node of one encoder; the first error sticks.
type state struct{ err error }

func (s *state) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("parquet: "+format, args...)
	}
}

// node writes one Arrow field's values into its Parquet leaves.
type node interface {
	// init gives the node the encoder's state and returns its leaves
	// appended to dst, in file order.
	init(st *state, dst []*leafNode) []*leafNode
	// bind makes a the array that write and writeRows index.
	bind(a arrow.Array) error
	// write writes element i of the bound array, with repetition level rep
	// and the definition level def its parents reached.
	write(i, rep, def int)
	// writeNull writes a null at every leaf below, at levels rep and def.
	writeNull(rep, def int)
	// writeRows writes elements lo..hi of a top-level column.
	writeRows(lo, hi int)
}

// validity is an Arrow validity bitmap; nil bits means no nulls.
type validity struct {
	bits []byte
	off  int
}

func validityOf(a arrow.Array) validity {
	if a.NullN() == 0 {
		return validity{}
	}
	return validity{bits: a.NullBitmapBytes(), off: a.Data().Offset()}
}

func (v validity) valid(i int) bool { return v.bits == nil || bitutil.BitIsSet(v.bits, v.off+i) }

// leafNode writes a primitive (or dictionary) field into one Parquet column.
type leafNode struct {
	nullable bool
	column   string // Parquet column path, for errors
	col      int    // Parquet column index
	get      getter

	st       *state
	nulls    validity
	hasNulls bool       // some value of the bound array is null
	vals     []pq.Value // values of the current chunk
}

func (n *leafNode) init(st *state, dst []*leafNode) []*leafNode {
	n.st = st
	return append(dst, n)
}

func (n *leafNode) bind(a arrow.Array) error {
	n.nulls = validityOf(a)
	if err := n.get.bind(a); err != nil {
		return err
	}
	n.hasNulls = n.get.anyNull(n.nulls, 0, a.Len())
	return nil
}

// extend grows vals by k values and returns them.
func (n *leafNode) extend(k int) []pq.Value {
	l := len(n.vals)
	if l+k > cap(n.vals) {
		grown := make([]pq.Value, l, max(2*cap(n.vals), l+k))
		copy(grown, n.vals)
		n.vals = grown
	}
	n.vals = n.vals[:l+k]
	return n.vals[l:]
}

func (n *leafNode) write(i, rep, def int) {
	v := n.extend(1)
	if !n.get.valid(n.nulls, i) {
		if !n.nullable {
			n.st.fail("column %s is not nullable but holds a null", n.column)
		}
		v[0] = pq.Value{}
		setLevels(&v[0], rep, def, n.col)
		return
	}
	if n.nullable {
		def++
	}
	v[0] = n.get.at(i)
	setLevels(&v[0], rep, def, n.col)
}

func (n *leafNode) writeNull(rep, def int) {
	v := n.extend(1)
	v[0] = pq.Value{}
	setLevels(&v[0], rep, def, n.col)
}

func (n *leafNode) writeRows(lo, hi int) {
	if !n.nullable {
		if n.hasNulls && n.get.anyNull(n.nulls, lo, hi) {
			n.st.fail("column %s is not nullable but holds a null", n.column)
			return
		}
		n.get.fill(n.extend(hi-lo), lo, 0, 0, 0, n.col, n.nulls)
		return
	}
	n.get.fill(n.extend(hi-lo), lo, 0, 1, 0, n.col, n.nulls)
}

// structNode writes a struct field's children.
type structNode struct {
	nullable bool
	column   string
	children []node

	st    *state
	nulls validity
}

func (n *structNode) init(st *state, dst []*leafNode) []*leafNode {
	n.st = st
	for _, c := range n.children {
		dst = c.init(st, dst)
	}
	return dst
}

func (n *structNode) bind(a arrow.Array) error {
	s, ok := a.(*array.Struct)
	if !ok {
		return fmt.Errorf("parquet: column %s: got %s array, want struct", n.column, a.DataType())
	}
	n.nulls = validityOf(s)
	// Struct fields are sliced like the struct, so they share its indexes.
	for k, c := range n.children {
		if err := c.bind(s.Field(k)); err != nil {
			return err
		}
	}
	return nil
}

func (n *structNode) write(i, rep, def int) {
	if !n.nulls.valid(i) {
		if !n.nullable {
			n.st.fail("column %s is not nullable but holds a null", n.column)
		}
		n.writeNull(rep, def)
		return
	}
	if n.nullable {
		def++
	}
	for _, c := range n.children {
		c.write(i, rep, def)
	}
}

func (n *structNode) writeNull(rep, def int) {
	for _, c := range n.children {
		c.writeNull(rep, def)
	}
}

func (n *structNode) writeRows(lo, hi int) {
	for i := lo; i < hi; i++ {
		n.write(i, 0, 0)
	}
}

// listNode writes a list (list, large_list or fixed_size_list) field as a
// three-level Parquet LIST.
type listNode struct {
	nullable bool
	column   string
	rep      int // repetition level of this list's elements after the first
	elem     node

	st    *state
	arr   array.ListLike
	nulls validity
}

func (n *listNode) init(st *state, dst []*leafNode) []*leafNode {
	n.st = st
	return n.elem.init(st, dst)
}

func (n *listNode) bind(a arrow.Array) error {
	l, ok := a.(array.ListLike)
	if !ok {
		return fmt.Errorf("parquet: column %s: got %s array, want a list", n.column, a.DataType())
	}
	n.arr, n.nulls = l, validityOf(l)
	// ValueOffsets index the whole child array, whatever the list's slice.
	return n.elem.bind(l.ListValues())
}

func (n *listNode) write(i, rep, def int) {
	if !n.nulls.valid(i) {
		if !n.nullable {
			n.st.fail("column %s is not nullable but holds a null", n.column)
		}
		n.elem.writeNull(rep, def)
		return
	}
	if n.nullable {
		def++
	}
	start, end := n.arr.ValueOffsets(i)
	if start == end {
		n.elem.writeNull(rep, def)
		return
	}
	n.elem.write(int(start), rep, def+1)
	for k := int(start) + 1; k < int(end); k++ {
		n.elem.write(k, n.rep, def+1)
	}
}

func (n *listNode) writeNull(rep, def int) { n.elem.writeNull(rep, def) }

func (n *listNode) writeRows(lo, hi int) {
	leaf, ok := n.elem.(*leafNode)
	if !ok || (!leaf.nullable && leaf.hasNulls) {
		// Nested lists and structs, or nulls to report: value by value.
		for i := lo; i < hi; i++ {
			n.write(i, 0, 0)
		}
		return
	}
	// A list of primitives: each list's elements in bulk.
	def := 0
	if n.nullable {
		def = 1
	}
	elemDef := def + 1
	if leaf.nullable {
		elemDef++
	}
	for i := lo; i < hi; i++ {
		if !n.nulls.valid(i) {
			if !n.nullable {
				n.st.fail("column %s is not nullable but holds a null", n.column)
			}
			leaf.writeNull(0, 0)
			continue
		}
		start, end := n.arr.ValueOffsets(i)
		if start == end {
			leaf.writeNull(0, def)
			continue
		}
		dst := leaf.extend(int(end - start))
		leaf.get.fill(dst, int(start), n.rep, elemDef, def+1, leaf.col, leaf.nulls)
		setRep(&dst[0], 0)
	}
}

// getter reads the values of one Arrow array as Parquet values.
type getter interface {
	bind(a arrow.Array) error
	// valid reports whether value i is present, given the array's validity.
	valid(v validity, i int) bool
	// anyNull reports whether a value in lo..hi is null.
	anyNull(v validity, lo, hi int) bool
	// at returns value i, which is valid.
	at(i int) pq.Value
	// fill sets dst[k] to value lo+k with levels (rep, def) and column col,
	// or to null with levels (rep, nullDef) where v says it is null.
	fill(dst []pq.Value, lo, rep, def, nullDef, col int, v validity)
	// bytes estimates the bound array's size as Parquet values.
	bytes() int64
}

// plainNulls is the validity handling of getters whose nulls are the array's.
type plainNulls struct{}

func (plainNulls) valid(v validity, i int) bool { return v.valid(i) }

func (plainNulls) anyNull(v validity, lo, hi int) bool {
	if v.bits == nil {
		return false
	}
	return bitutil.CountSetBits(v.bits, v.off+lo, hi-lo) != hi-lo
}

// fillLoop is the body of every fill, written out per getter type: Go does
// not inline a method called through a type parameter, and a call per value
// would cost more than the rest of the loop.
//
//	if v.bits == nil { for each k: dst[k] = VALUE(lo+k) with (rep, def) }
//	else { for each k: VALUE(lo+k) with (rep, def) if valid, else null with (rep, nullDef) }

// setNull makes *v a null with levels rep and def.
func setNull(v *pq.Value, rep, def, col int) {
	*v = pq.Value{}
	setLevels(v, rep, def, col)
}

// int32Getter reads integers that Parquet stores as INT32 (a uint32 keeps its
// bits; its UINT_32 annotation tells readers).
type int32Getter[T ~int8 | ~int16 | ~int32 | ~uint8 | ~uint16 | ~uint32] struct {
	plainNulls
	vals []T
}

func (g *int32Getter[T]) bind(a arrow.Array) error {
	g.vals = arrow.GetValues[T](a.Data(), 1)
	return nil
}

func (g int32Getter[T]) at(i int) pq.Value { return pq.Int32Value(int32(g.vals[i])) }

func (g *int32Getter[T]) bytes() int64 { return 4 * int64(len(g.vals)) }

func (g *int32Getter[T]) fill(dst []pq.Value, lo, rep, def, nullDef, col int, v validity) {
	vals := g.vals[lo : lo+len(dst)]
	if v.bits == nil {
		for k, x := range vals {
			dst[k] = pq.Int32Value(int32(x))
			setLevels(&dst[k], rep, def, col)
		}
		return
	}
	for k, x := range vals {
		if v.valid(lo + k) {
			dst[k] = pq.Int32Value(int32(x))
			setLevels(&dst[k], rep, def, col)
		} else {
			setNull(&dst[k], rep, nullDef, col)
		}
	}
}

// int64Getter reads integers that Parquet stores as INT64.
type int64Getter[T ~int64 | ~uint64] struct {
	plainNulls
	vals []T
}

func (g *int64Getter[T]) bind(a arrow.Array) error {
	g.vals = arrow.GetValues[T](a.Data(), 1)
	return nil
}

func (g int64Getter[T]) at(i int) pq.Value { return pq.Int64Value(int64(g.vals[i])) }

func (g *int64Getter[T]) bytes() int64 { return 8 * int64(len(g.vals)) }

func (g *int64Getter[T]) fill(dst []pq.Value, lo, rep, def, nullDef, col int, v validity) {
	vals := g.vals[lo : lo+len(dst)]
	if v.bits == nil {
		for k, x := range vals {
			dst[k] = pq.Int64Value(int64(x))
			setLevels(&dst[k], rep, def, col)
		}
		return
	}
	for k, x := range vals {
		if v.valid(lo + k) {
			dst[k] = pq.Int64Value(int64(x))
			setLevels(&dst[k], rep, def, col)
		} else {
			setNull(&dst[k], rep, nullDef, col)
		}
	}
}

type float32Getter struct {
	plainNulls
	vals []float32
}

func (g *float32Getter) bind(a arrow.Array) error {
	g.vals = arrow.GetValues[float32](a.Data(), 1)
	return nil
}

func (g float32Getter) at(i int) pq.Value { return pq.FloatValue(g.vals[i]) }

func (g *float32Getter) bytes() int64 { return 4 * int64(len(g.vals)) }

func (g *float32Getter) fill(dst []pq.Value, lo, rep, def, nullDef, col int, v validity) {
	vals := g.vals[lo : lo+len(dst)]
	if v.bits == nil {
		for k, x := range vals {
			dst[k] = pq.FloatValue(x)
			setLevels(&dst[k], rep, def, col)
		}
		return
	}
	for k, x := range vals {
		if v.valid(lo + k) {
			dst[k] = pq.FloatValue(x)
			setLevels(&dst[k], rep, def, col)
		} else {
			setNull(&dst[k], rep, nullDef, col)
		}
	}
}

type float64Getter struct {
	plainNulls
	vals []float64
}

func (g *float64Getter) bind(a arrow.Array) error {
	g.vals = arrow.GetValues[float64](a.Data(), 1)
	return nil
}

func (g float64Getter) at(i int) pq.Value { return pq.DoubleValue(g.vals[i]) }

func (g *float64Getter) bytes() int64 { return 8 * int64(len(g.vals)) }

func (g *float64Getter) fill(dst []pq.Value, lo, rep, def, nullDef, col int, v validity) {
	vals := g.vals[lo : lo+len(dst)]
	if v.bits == nil {
		for k, x := range vals {
			dst[k] = pq.DoubleValue(x)
			setLevels(&dst[k], rep, def, col)
		}
		return
	}
	for k, x := range vals {
		if v.valid(lo + k) {
			dst[k] = pq.DoubleValue(x)
			setLevels(&dst[k], rep, def, col)
		} else {
			setNull(&dst[k], rep, nullDef, col)
		}
	}
}

type boolGetter struct {
	plainNulls
	bits []byte
	off  int
}

func (g *boolGetter) bind(a arrow.Array) error {
	g.bits, g.off = nil, a.Data().Offset()
	if b := a.Data().Buffers()[1]; b != nil {
		g.bits = b.Bytes()
	}
	return nil
}

func (g boolGetter) at(i int) pq.Value { return pq.BooleanValue(bitutil.BitIsSet(g.bits, g.off+i)) }

func (g *boolGetter) bytes() int64 { return int64(len(g.bits)) }

func (g *boolGetter) fill(dst []pq.Value, lo, rep, def, nullDef, col int, v validity) {
	for k := range dst {
		if v.valid(lo + k) {
			dst[k] = pq.BooleanValue(bitutil.BitIsSet(g.bits, g.off+lo+k))
			setLevels(&dst[k], rep, def, col)
		} else {
			setNull(&dst[k], rep, nullDef, col)
		}
	}
}

// bytesGetter reads string and binary arrays (32- or 64-bit offsets). The
// values point into the Arrow buffer; parquet-go copies them when it buffers
// them, so nothing refers to the record after Encode returns.
type bytesGetter[O int32 | int64] struct {
	plainNulls
	offsets []O // absolute offsets into data, len+1
	data    []byte
}

func (g *bytesGetter[O]) bind(a arrow.Array) error {
	d := a.Data()
	g.offsets, g.data = nil, nil
	if d.Len() == 0 {
		return nil
	}
	g.offsets = arrow.GetOffsets[O](d, 1)
	if b := d.Buffers()[2]; b != nil {
		g.data = b.Bytes()
	}
	return nil
}

func (g bytesGetter[O]) at(i int) pq.Value {
	return pq.ByteArrayValue(g.data[g.offsets[i]:g.offsets[i+1]])
}

func (g *bytesGetter[O]) bytes() int64 {
	if len(g.offsets) == 0 {
		return 0
	}
	// Plain encoding: a 4-byte length and the bytes of each value.
	n := int64(len(g.offsets) - 1)
	return 4*n + int64(g.offsets[n]-g.offsets[0])
}

func (g *bytesGetter[O]) fill(dst []pq.Value, lo, rep, def, nullDef, col int, v validity) {
	offs, data := g.offsets[lo:lo+len(dst)+1], g.data
	if v.bits == nil {
		for k := range dst {
			dst[k] = pq.ByteArrayValue(data[offs[k]:offs[k+1]])
			setLevels(&dst[k], rep, def, col)
		}
		return
	}
	for k := range dst {
		if v.valid(lo + k) {
			dst[k] = pq.ByteArrayValue(data[offs[k]:offs[k+1]])
			setLevels(&dst[k], rep, def, col)
		} else {
			setNull(&dst[k], rep, nullDef, col)
		}
	}
}

// date64Getter turns Arrow's milliseconds since the epoch into Parquet's days.
type date64Getter struct {
	plainNulls
	vals []arrow.Date64
}

func (g *date64Getter) bind(a arrow.Array) error {
	g.vals = arrow.GetValues[arrow.Date64](a.Data(), 1)
	return nil
}

func (g date64Getter) at(i int) pq.Value {
	return pq.Int32Value(int32(floorDiv(int64(g.vals[i]), 86_400_000)))
}

func (g *date64Getter) bytes() int64 { return 4 * int64(len(g.vals)) }

func (g *date64Getter) fill(dst []pq.Value, lo, rep, def, nullDef, col int, v validity) {
	vals := g.vals[lo : lo+len(dst)]
	if v.bits == nil {
		for k, x := range vals {
			dst[k] = pq.Int32Value(int32(floorDiv(int64(x), 86_400_000)))
			setLevels(&dst[k], rep, def, col)
		}
		return
	}
	for k, x := range vals {
		if v.valid(lo + k) {
			dst[k] = pq.Int32Value(int32(floorDiv(int64(x), 86_400_000)))
			setLevels(&dst[k], rep, def, col)
		} else {
			setNull(&dst[k], rep, nullDef, col)
		}
	}
}

// timestampGetter reads timestamps, converting seconds to milliseconds (mul
// 1000) or nanoseconds to microseconds (div 1000, rounding down).
type timestampGetter struct {
	plainNulls
	mul, div int64
	column   string
	vals     []arrow.Timestamp
}

func (g *timestampGetter) bind(a arrow.Array) error {
	g.vals = arrow.GetValues[arrow.Timestamp](a.Data(), 1)
	if g.mul > 1 {
		lo, hi := int64(math.MinInt64)/g.mul, int64(math.MaxInt64)/g.mul
		for i, v := range g.vals {
			if (int64(v) < lo || int64(v) > hi) && a.IsValid(i) {
				return fmt.Errorf("parquet: column %s: timestamp %d s does not fit in milliseconds", g.column, v)
			}
		}
	}
	return nil
}

func (g timestampGetter) at(i int) pq.Value {
	v := int64(g.vals[i])
	switch {
	case g.mul > 1:
		v *= g.mul
	case g.div > 1:
		v = floorDiv(v, g.div)
	}
	return pq.Int64Value(v)
}

func (g *timestampGetter) bytes() int64 { return 8 * int64(len(g.vals)) }

func (g *timestampGetter) fill(dst []pq.Value, lo, rep, def, nullDef, col int, v validity) {
	if g.mul > 1 || g.div > 1 {
		for k := range dst {
			if v.valid(lo + k) {
				dst[k] = g.at(lo + k)
				setLevels(&dst[k], rep, def, col)
			} else {
				setNull(&dst[k], rep, nullDef, col)
			}
		}
		return
	}
	vals := g.vals[lo : lo+len(dst)]
	if v.bits == nil {
		for k, x := range vals {
			dst[k] = pq.Int64Value(int64(x))
			setLevels(&dst[k], rep, def, col)
		}
		return
	}
	for k, x := range vals {
		if v.valid(lo + k) {
			dst[k] = pq.Int64Value(int64(x))
			setLevels(&dst[k], rep, def, col)
		} else {
			setNull(&dst[k], rep, nullDef, col)
		}
	}
}

// dictGetter reads a dictionary array's values through its indices. A value is
// null where the index is null or the dictionary entry it points to is.
type dictGetter struct {
	values    getter // bound to the dictionary
	arr       *array.Dictionary
	dict      arrow.Array
	dictNulls validity
}

func (g *dictGetter) bind(a arrow.Array) error {
	g.arr = a.(*array.Dictionary)
	g.dict = g.arr.Dictionary()
	g.dictNulls = validityOf(g.dict)
	return g.values.bind(g.dict)
}

func (g *dictGetter) valid(v validity, i int) bool {
	return v.valid(i) && g.dictNulls.valid(g.arr.GetValueIndex(i))
}

func (g *dictGetter) anyNull(v validity, lo, hi int) bool {
	for i := lo; i < hi; i++ {
		if !g.valid(v, i) {
			return true
		}
	}
	return false
}

func (g *dictGetter) at(i int) pq.Value { return g.values.at(g.arr.GetValueIndex(i)) }

func (g *dictGetter) bytes() int64 {
	n := int64(g.dict.Len())
	if n == 0 {
		return 0
	}
	return g.values.bytes() * int64(g.arr.Len()) / n
}

func (g *dictGetter) fill(dst []pq.Value, lo, rep, def, nullDef, col int, v validity) {
	for k := range dst {
		if g.valid(v, lo+k) {
			dst[k] = g.at(lo + k)
			setLevels(&dst[k], rep, def, col)
		} else {
			setNull(&dst[k], rep, nullDef, col)
		}
	}
}

// floorDiv divides rounding toward negative infinity, so that instants before
// 1970 convert like the others.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
