package parquet

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	pq "github.com/parquet-go/parquet-go"
)

// This file turns Arrow arrays into Parquet leaf values with repetition and
// definition levels (Dremel "shredding"), column by column. It is written by
// hand because parquet-go has no Arrow support, and its generic row path
// (map[string]any rows) is both slow and wrong for optional lists: v0.32.0
// stores null for every element of an optional list written that way.
//
// Levels, for a field at definition level d below its parents (d counts the
// optional and repeated fields above it that are present):
//   - a null value of a nullable field gets level d, a present one d+1;
//   - a list adds a repeated group: an empty list gets level d (of the list
//     itself, after its own optional level), an element d+1 plus its own;
//   - the first element of a list repeats at its parent's repetition level,
//     the others at the list's own (its depth among repeated fields).

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

// leafNode writes a primitive (or dictionary) field into one Parquet column.
type leafNode struct {
	nullable bool
	column   string // Parquet column path, for errors
	col      int    // Parquet column index
	get      getter

	st    *state
	arr   arrow.Array
	nulls bool // the bound array has nulls (in its dictionary too)
	vals  []pq.Value
}

func (n *leafNode) init(st *state, dst []*leafNode) []*leafNode {
	n.st = st
	return append(dst, n)
}

func (n *leafNode) bind(a arrow.Array) error {
	n.arr = a
	n.nulls = a.NullN() > 0
	if d, ok := a.(*array.Dictionary); ok && d.Dictionary().NullN() > 0 {
		n.nulls = true
	}
	return n.get.bind(a)
}

func (n *leafNode) isNull(i int) bool {
	if n.arr.IsNull(i) {
		return true
	}
	if d, ok := n.get.(*dictGetter); ok {
		return d.dict.IsNull(d.index(i))
	}
	return false
}

func (n *leafNode) write(i, rep, def int) {
	if n.nulls && n.isNull(i) {
		if !n.nullable {
			n.st.fail("column %s is not nullable but holds a null", n.column)
		}
		n.vals = append(n.vals, pq.Value{}.Level(rep, def, n.col))
		return
	}
	if n.nullable {
		def++
	}
	n.vals = append(n.vals, n.get.at(i).Level(rep, def, n.col))
}

func (n *leafNode) writeNull(rep, def int) {
	n.vals = append(n.vals, pq.Value{}.Level(rep, def, n.col))
}

func (n *leafNode) writeRows(lo, hi int) {
	if !n.nulls {
		def := 0
		if n.nullable {
			def = 1
		}
		n.vals = n.get.appendRange(n.vals, lo, hi, def, n.col)
		return
	}
	for i := lo; i < hi; i++ {
		n.write(i, 0, 0)
	}
}

// structNode writes a struct field's children.
type structNode struct {
	nullable bool
	column   string
	children []node

	st  *state
	arr arrow.Array
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
	n.arr = s
	// Struct fields are sliced like the struct, so they share its indexes.
	for k, c := range n.children {
		if err := c.bind(s.Field(k)); err != nil {
			return err
		}
	}
	return nil
}

func (n *structNode) write(i, rep, def int) {
	if n.arr.IsNull(i) {
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

	st  *state
	arr array.ListLike
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
	n.arr = l
	// ValueOffsets index the whole child array, whatever the list's slice.
	return n.elem.bind(l.ListValues())
}

func (n *listNode) write(i, rep, def int) {
	if n.arr.IsNull(i) {
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
	for i := lo; i < hi; i++ {
		n.write(i, 0, 0)
	}
}

// getter reads the values of one Arrow array as Parquet values.
type getter interface {
	bind(a arrow.Array) error
	// at returns value i (not null).
	at(i int) pq.Value
	// appendRange appends values lo..hi, none null, at repetition level 0.
	appendRange(dst []pq.Value, lo, hi, def, col int) []pq.Value
}

// int32Getter reads integers that Parquet stores as INT32 (a uint32 keeps its
// bits; its UINT_32 annotation tells readers).
type int32Getter[T ~int8 | ~int16 | ~int32 | ~uint8 | ~uint16 | ~uint32] struct{ vals []T }

func (g *int32Getter[T]) bind(a arrow.Array) error {
	g.vals = arrow.GetValues[T](a.Data(), 1)
	return nil
}

func (g *int32Getter[T]) at(i int) pq.Value { return pq.Int32Value(int32(g.vals[i])) }

func (g *int32Getter[T]) appendRange(dst []pq.Value, lo, hi, def, col int) []pq.Value {
	for _, v := range g.vals[lo:hi] {
		dst = append(dst, pq.Int32Value(int32(v)).Level(0, def, col))
	}
	return dst
}

// int64Getter reads integers that Parquet stores as INT64.
type int64Getter[T ~int64 | ~uint64] struct{ vals []T }

func (g *int64Getter[T]) bind(a arrow.Array) error {
	g.vals = arrow.GetValues[T](a.Data(), 1)
	return nil
}

func (g *int64Getter[T]) at(i int) pq.Value { return pq.Int64Value(int64(g.vals[i])) }

func (g *int64Getter[T]) appendRange(dst []pq.Value, lo, hi, def, col int) []pq.Value {
	for _, v := range g.vals[lo:hi] {
		dst = append(dst, pq.Int64Value(int64(v)).Level(0, def, col))
	}
	return dst
}

type float32Getter struct{ vals []float32 }

func (g *float32Getter) bind(a arrow.Array) error {
	g.vals = arrow.GetValues[float32](a.Data(), 1)
	return nil
}

func (g *float32Getter) at(i int) pq.Value { return pq.FloatValue(g.vals[i]) }

func (g *float32Getter) appendRange(dst []pq.Value, lo, hi, def, col int) []pq.Value {
	for _, v := range g.vals[lo:hi] {
		dst = append(dst, pq.FloatValue(v).Level(0, def, col))
	}
	return dst
}

type float64Getter struct{ vals []float64 }

func (g *float64Getter) bind(a arrow.Array) error {
	g.vals = arrow.GetValues[float64](a.Data(), 1)
	return nil
}

func (g *float64Getter) at(i int) pq.Value { return pq.DoubleValue(g.vals[i]) }

func (g *float64Getter) appendRange(dst []pq.Value, lo, hi, def, col int) []pq.Value {
	for _, v := range g.vals[lo:hi] {
		dst = append(dst, pq.DoubleValue(v).Level(0, def, col))
	}
	return dst
}

type boolGetter struct{ arr *array.Boolean }

func (g *boolGetter) bind(a arrow.Array) error {
	g.arr = a.(*array.Boolean)
	return nil
}

func (g *boolGetter) at(i int) pq.Value { return pq.BooleanValue(g.arr.Value(i)) }

func (g *boolGetter) appendRange(dst []pq.Value, lo, hi, def, col int) []pq.Value {
	for i := lo; i < hi; i++ {
		dst = append(dst, pq.BooleanValue(g.arr.Value(i)).Level(0, def, col))
	}
	return dst
}

// bytesGetter reads string and binary arrays (32- or 64-bit offsets). The
// values point into the Arrow buffer; parquet-go copies them when it buffers
// them, so nothing refers to the record after Encode returns.
type bytesGetter[O int32 | int64] struct {
	offsets []O // absolute offsets into data, len+1
	data    []byte
}

func (g *bytesGetter[O]) bind(a arrow.Array) error {
	d := a.Data()
	if d.Len() == 0 {
		g.offsets, g.data = nil, nil
		return nil
	}
	g.offsets = arrow.GetOffsets[O](d, 1)
	g.data = nil
	if b := d.Buffers()[2]; b != nil {
		g.data = b.Bytes()
	}
	return nil
}

func (g *bytesGetter[O]) at(i int) pq.Value {
	return pq.ByteArrayValue(g.data[g.offsets[i]:g.offsets[i+1]])
}

func (g *bytesGetter[O]) appendRange(dst []pq.Value, lo, hi, def, col int) []pq.Value {
	offs, data := g.offsets, g.data
	for i := lo; i < hi; i++ {
		dst = append(dst, pq.ByteArrayValue(data[offs[i]:offs[i+1]]).Level(0, def, col))
	}
	return dst
}

// date64Getter turns Arrow's milliseconds since the epoch into Parquet's days.
type date64Getter struct{ vals []arrow.Date64 }

func (g *date64Getter) bind(a arrow.Array) error {
	g.vals = arrow.GetValues[arrow.Date64](a.Data(), 1)
	return nil
}

func (g *date64Getter) at(i int) pq.Value {
	return pq.Int32Value(int32(floorDiv(int64(g.vals[i]), 86_400_000)))
}

func (g *date64Getter) appendRange(dst []pq.Value, lo, hi, def, col int) []pq.Value {
	for i := lo; i < hi; i++ {
		dst = append(dst, g.at(i).Level(0, def, col))
	}
	return dst
}

// timestampGetter reads timestamps, converting seconds to milliseconds (mul
// 1000) or nanoseconds to microseconds (div 1000, rounding down).
type timestampGetter struct {
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

func (g *timestampGetter) at(i int) pq.Value {
	v := int64(g.vals[i])
	switch {
	case g.mul > 1:
		v *= g.mul
	case g.div > 1:
		v = floorDiv(v, g.div)
	}
	return pq.Int64Value(v)
}

func (g *timestampGetter) appendRange(dst []pq.Value, lo, hi, def, col int) []pq.Value {
	vals := g.vals[lo:hi]
	switch {
	case g.mul > 1:
		for _, v := range vals {
			dst = append(dst, pq.Int64Value(int64(v)*g.mul).Level(0, def, col))
		}
	case g.div > 1:
		for _, v := range vals {
			dst = append(dst, pq.Int64Value(floorDiv(int64(v), g.div)).Level(0, def, col))
		}
	default:
		for _, v := range vals {
			dst = append(dst, pq.Int64Value(int64(v)).Level(0, def, col))
		}
	}
	return dst
}

// dictGetter reads a dictionary array's values through its indices.
type dictGetter struct {
	values getter // bound to the dictionary
	arr    *array.Dictionary
	dict   arrow.Array
}

func (g *dictGetter) bind(a arrow.Array) error {
	g.arr = a.(*array.Dictionary)
	g.dict = g.arr.Dictionary()
	return g.values.bind(g.dict)
}

func (g *dictGetter) index(i int) int { return g.arr.GetValueIndex(i) }

func (g *dictGetter) at(i int) pq.Value { return g.values.at(g.arr.GetValueIndex(i)) }

func (g *dictGetter) appendRange(dst []pq.Value, lo, hi, def, col int) []pq.Value {
	for i := lo; i < hi; i++ {
		dst = append(dst, g.values.at(g.arr.GetValueIndex(i)).Level(0, def, col))
	}
	return dst
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
