package parquet

import (
	"fmt"
	"math"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// This file turns Arrow arrays into Parquet leaf columns' values and
// repetition and definition levels (Dremel "shredding"), column by column.
// It is written by hand because parquet-go has no Arrow support, and its
// generic row path (map[string]any rows) is both slow and wrong for optional
// lists: v0.32.0 stores null for every element of an optional list written
// that way.
//
// Levels, for a field below parents that reached definition level d:
//   - a null value of a nullable field gets level d, a present one d+1
//     (a non-nullable field adds no level);
//   - a list adds a repeated group: an empty list gets the list's own level,
//     an element one more, plus its own if it is nullable;
//   - the first element of a list repeats at its parent's repetition level,
//     the others at the list's own (its depth among repeated fields).
//
// Ranges of rows take bulk paths (writeRange) that hand runs of present
// values to the columns in one call each: leaves, structs without nulls in
// the range, lists of leaves. Everything else goes value by value (write).

// state is shared by every node of one encoder, whose columns may be
// shredded by several goroutines at once; the first error sticks.
type state struct {
	mu  sync.Mutex
	err error
}

func (s *state) fail(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = fmt.Errorf("parquet: "+format, args...)
	}
}

func (s *state) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// node writes one Arrow field's values into its Parquet leaves.
type node interface {
	// init gives the node the encoder's state and returns its leaves
	// appended to dst, in file order.
	init(st *state, dst []*leafNode) []*leafNode
	// bind makes a the array that write and writeRange index.
	bind(a arrow.Array) error
	// write writes element i of the bound array, with repetition level rep
	// and the definition level def its parents reached.
	write(i, rep, def int)
	// writeNull writes a null at every leaf below, at levels rep and def.
	writeNull(rep, def int)
	// writeRange writes elements lo..hi of the bound array as rows of
	// their own (repetition level 0) whose parents reached level def.
	writeRange(lo, hi, def int)
	// unbind drops the references to the bound array.
	unbind()
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

// runs calls f(a, b) for each run a..b of present values in lo..hi.
func (v validity) runs(lo, hi int, f func(a, b int)) {
	if v.bits == nil {
		if lo < hi {
			f(lo, hi)
		}
		return
	}
	for i := lo; i < hi; {
		for i < hi && !bitutil.BitIsSet(v.bits, v.off+i) {
			i++
		}
		j := i
		for j < hi && bitutil.BitIsSet(v.bits, v.off+j) {
			j++
		}
		if i < j {
			f(i, j)
		}
		i = j
	}
}

// leafNode writes a primitive (or dictionary) field into one Parquet column.
type leafNode struct {
	nullable bool
	column   string // Parquet column path, for errors
	get      getter
	col      leafColumn
	ch       *chunk
	index    int // among the file's leaves

	st       *state
	nulls    validity
	hasNulls bool // some value of the bound array is null
}

func (n *leafNode) init(st *state, dst []*leafNode) []*leafNode {
	n.st = st
	n.col = n.get.column()
	n.ch = n.col.base()
	n.index = len(dst)
	return append(dst, n)
}

func (n *leafNode) unbind() {
	n.nulls = validity{}
	n.get.unbind()
}

func (n *leafNode) bind(a arrow.Array) error {
	n.nulls = validityOf(a)
	if err := n.get.bind(a); err != nil {
		return err
	}
	n.hasNulls = n.get.anyNull(n.nulls, 0, a.Len())
	return nil
}

func (n *leafNode) write(i, rep, def int) {
	if !n.get.valid(n.nulls, i) {
		if !n.nullable {
			n.st.fail("column %s is not nullable but holds a null", n.column)
		}
		n.ch.level(rep, def)
		return
	}
	if n.nullable {
		def++
	}
	n.ch.level(rep, def)
	n.get.put(i)
}

func (n *leafNode) writeNull(rep, def int) { n.ch.level(rep, def) }

func (n *leafNode) writeRange(lo, hi, def int) {
	if _, dict := n.get.(*dictGetter); dict {
		// Nulls of dictionary arrays are also in their dictionary.
		for i := lo; i < hi; i++ {
			n.write(i, 0, def)
		}
		return
	}
	if !n.nullable {
		if n.hasNulls && n.get.anyNull(n.nulls, lo, hi) {
			n.st.fail("column %s is not nullable but holds a null", n.column)
			return
		}
		n.ch.levels(hi-lo, 0, def)
		n.get.putRange(lo, hi, validity{})
		return
	}
	n.ch.validLevels(n.nulls, lo, hi, def+1, def)
	n.get.putRange(lo, hi, n.nulls)
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

func (n *structNode) unbind() {
	n.nulls = validity{}
	for _, c := range n.children {
		c.unbind()
	}
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

func (n *structNode) writeRange(lo, hi, def int) {
	if n.nulls.bits != nil && bitutil.CountSetBits(n.nulls.bits, n.nulls.off+lo, hi-lo) != hi-lo {
		for i := lo; i < hi; i++ {
			n.write(i, 0, def)
		}
		return
	}
	if n.nullable {
		def++
	}
	for _, c := range n.children {
		c.writeRange(lo, hi, def)
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

func (n *listNode) unbind() {
	n.arr, n.nulls = nil, validity{}
	n.elem.unbind()
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

func (n *listNode) writeRange(lo, hi, def int) {
	leaf, ok := n.elem.(*leafNode)
	if ok {
		_, dict := leaf.get.(*dictGetter)
		ok = !dict
	}
	if !ok || (!leaf.nullable && leaf.hasNulls) {
		// Nested lists and structs, dictionaries, or nulls to report:
		// value by value.
		for i := lo; i < hi; i++ {
			n.write(i, 0, def)
		}
		return
	}
	// A list of primitives: levels per element, values in runs that span
	// consecutive lists (whose elements are adjacent in the child array).
	parent := def
	if n.nullable {
		def++
	}
	elemDef := def + 1
	if leaf.nullable {
		elemDef++
	}
	ch := leaf.ch
	runLo, runHi := 0, 0
	for i := lo; i < hi; i++ {
		if !n.nulls.valid(i) {
			if !n.nullable {
				n.st.fail("column %s is not nullable but holds a null", n.column)
			}
			ch.level(0, parent)
			continue
		}
		s, e := n.arr.ValueOffsets(i)
		start, end := int(s), int(e)
		if start == end {
			ch.level(0, def)
			continue
		}
		if leaf.nullable && leaf.hasNulls {
			for k := start; k < end; k++ {
				rep := n.rep
				if k == start {
					rep = 0
				}
				if leaf.nulls.valid(k) {
					ch.level(rep, elemDef)
				} else {
					ch.level(rep, elemDef-1)
				}
			}
		} else {
			ch.level(0, elemDef)
			ch.levels(end-start-1, n.rep, elemDef)
		}
		if start != runHi {
			leaf.get.putRange(runLo, runHi, leaf.nulls)
			runLo = start
		}
		runHi = end
	}
	leaf.get.putRange(runLo, runHi, leaf.nulls)
}

// getter reads the values of one Arrow array into its Parquet column.
type getter interface {
	bind(a arrow.Array) error
	// valid reports whether value i is present, given the array's validity.
	valid(v validity, i int) bool
	// anyNull reports whether a value in lo..hi is null.
	anyNull(v validity, lo, hi int) bool
	// put appends value i, which is present, to the column.
	put(i int)
	// putRange appends the values in lo..hi that v says are present.
	putRange(lo, hi int, v validity)
	// bytes estimates the bound array's size as PLAIN values.
	bytes() int64
	// column is the Parquet column the getter writes.
	column() leafColumn
	// unbind drops the references to the bound array.
	unbind()
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

// arrowFixed are the Arrow value types read by fixedGetter.
type arrowFixed interface {
	int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64 | float32 | float64 |
		arrow.Date32 | arrow.Date64 | arrow.Timestamp
}

// fixedGetter reads fixed-width Arrow values A into a column of T. Without
// conv, A and T have the same size and T takes A's bits (a uint32 keeps its
// bits in an INT32 column whose annotation says unsigned); with conv, values
// go through it in batches.
type fixedGetter[A arrowFixed, T fixedValue] struct {
	plainNulls
	col  *fixedColumn[T]
	vals []A
	conv func(dst []T, src []A) []T
	tmp  []T

	// check, if set, validates the bound array's present values.
	check func(vals []A, v validity) error
}

func newFixedGetter[A arrowFixed, T fixedValue](o order, conv func(dst []T, src []A) []T) *fixedGetter[A, T] {
	return &fixedGetter[A, T]{col: newFixedColumn[T](o), conv: conv}
}

func (g *fixedGetter[A, T]) bind(a arrow.Array) error {
	g.vals = arrow.GetValues[A](a.Data(), 1)
	if g.check != nil {
		return g.check(g.vals, validityOf(a))
	}
	return nil
}

func (g *fixedGetter[A, T]) column() leafColumn { return g.col }

func (g *fixedGetter[A, T]) unbind() { g.vals = nil }

func (g *fixedGetter[A, T]) bytes() int64 { return int64(unsafe.Sizeof(*new(T))) * int64(len(g.vals)) }

func (g *fixedGetter[A, T]) put(i int) { g.add(g.vals[i : i+1]) }

func (g *fixedGetter[A, T]) putRange(lo, hi int, v validity) {
	if v.bits == nil {
		g.add(g.vals[lo:hi])
		return
	}
	v.runs(lo, hi, func(a, b int) { g.add(g.vals[a:b]) })
}

func (g *fixedGetter[A, T]) add(src []A) {
	if len(src) == 0 {
		return
	}
	if g.conv == nil {
		g.col.add(unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(src))), len(src)))
		return
	}
	g.tmp = g.conv(g.tmp[:0], src)
	g.col.add(g.tmp)
}

// widen converts small integers to INT32.
func widen[A int8 | int16 | uint8 | uint16](dst []int32, src []A) []int32 {
	for _, v := range src {
		dst = append(dst, int32(v))
	}
	return dst
}

// date64Days turns Arrow's milliseconds since the epoch into Parquet's days.
func date64Days(dst []int32, src []arrow.Date64) []int32 {
	for _, v := range src {
		dst = append(dst, int32(floorDiv(int64(v), 86_400_000)))
	}
	return dst
}

// secondsToMillis converts timestamps in seconds; the getter's check has
// made sure they fit.
func secondsToMillis(dst []int64, src []arrow.Timestamp) []int64 {
	for _, v := range src {
		dst = append(dst, int64(v)*1000)
	}
	return dst
}

// nanosToMicros converts timestamps in nanoseconds, rounding down so that a
// time never moves to the next microsecond.
func nanosToMicros(dst []int64, src []arrow.Timestamp) []int64 {
	for _, v := range src {
		dst = append(dst, floorDiv(int64(v), 1000))
	}
	return dst
}

// secondsFit fails for a present timestamp in seconds that has no
// millisecond form.
func secondsFit(column string) func([]arrow.Timestamp, validity) error {
	lo, hi := int64(math.MinInt64)/1000, int64(math.MaxInt64)/1000
	return func(vals []arrow.Timestamp, v validity) error {
		for i, t := range vals {
			if (int64(t) < lo || int64(t) > hi) && v.valid(i) {
				return fmt.Errorf("parquet: column %s: timestamp %d s does not fit in milliseconds", column, t)
			}
		}
		return nil
	}
}

type boolGetter struct {
	plainNulls
	col  *boolColumn
	bits []byte
	off  int
	n    int
}

func (g *boolGetter) bind(a arrow.Array) error {
	g.bits, g.off, g.n = nil, a.Data().Offset(), a.Len()
	if b := a.Data().Buffers()[1]; b != nil {
		g.bits = b.Bytes()
	}
	return nil
}

func (g *boolGetter) column() leafColumn { return g.col }

func (g *boolGetter) unbind() { g.bits = nil }

func (g *boolGetter) bytes() int64 { return int64(g.n+7) / 8 }

func (g *boolGetter) put(i int) { g.col.add(bitutil.BitIsSet(g.bits, g.off+i)) }

func (g *boolGetter) putRange(lo, hi int, v validity) {
	for i := lo; i < hi; i++ {
		if v.valid(i) {
			g.col.add(bitutil.BitIsSet(g.bits, g.off+i))
		}
	}
}

// bytesGetter reads string and binary arrays (32- or 64-bit offsets).
type bytesGetter[O int32 | int64] struct {
	plainNulls
	col     *bytesColumn
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

func (g *bytesGetter[O]) column() leafColumn { return g.col }

func (g *bytesGetter[O]) unbind() { g.offsets, g.data = nil, nil }

func (g *bytesGetter[O]) bytes() int64 {
	if len(g.offsets) == 0 {
		return 0
	}
	// PLAIN encoding: a 4-byte length and the bytes of each value.
	n := int64(len(g.offsets) - 1)
	return 4*n + int64(g.offsets[n]-g.offsets[0])
}

func (g *bytesGetter[O]) put(i int) { g.col.add(g.data[g.offsets[i]:g.offsets[i+1]]) }

func (g *bytesGetter[O]) putRange(lo, hi int, v validity) {
	offs, data := g.offsets, g.data
	if v.bits == nil {
		for i := lo; i < hi; i++ {
			g.col.add(data[offs[i]:offs[i+1]])
		}
		return
	}
	for i := lo; i < hi; i++ {
		if v.valid(i) {
			g.col.add(data[offs[i]:offs[i+1]])
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

func (g *dictGetter) column() leafColumn { return g.values.column() }

func (g *dictGetter) unbind() {
	g.arr, g.dict, g.dictNulls = nil, nil, validity{}
	g.values.unbind()
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

func (g *dictGetter) put(i int) { g.values.put(g.arr.GetValueIndex(i)) }

func (g *dictGetter) putRange(lo, hi int, v validity) {
	for i := lo; i < hi; i++ {
		if g.valid(v, i) {
			g.put(i)
		}
	}
}

func (g *dictGetter) bytes() int64 {
	n := int64(g.dict.Len())
	if n == 0 {
		return 0
	}
	return g.values.bytes() * int64(g.arr.Len()) / n
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
