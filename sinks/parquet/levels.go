package parquet

import (
	"bytes"
	"unsafe"

	pq "github.com/parquet-go/parquet-go"
)

// Setting levels fast.
//
// parquet-go's only way to give a Value its repetition and definition levels
// and its column is Value.Level, which is not inlined and copies the 24-byte
// Value in and out: measured at about 18 ns per value, against under 2 ns for
// storing the three fields in place. A million Azumio rows hold over 30 million
// values, so Level alone would take more than half the time budget of the
// encoder. setLevels therefore writes the fields through rawValue, a mirror of
// parquet-go's Value layout, but only after checkLayout has proved at start-up,
// through parquet-go's public accessors, that the mirror matches the pinned
// parquet-go; if it ever does not, fastLevels is false and setLevels falls back
// to Value.Level.

// rawValue mirrors parquet-go v0.32.0's Value.
type rawValue struct {
	ptr             *byte
	u64             uint64
	kind            int8
	definitionLevel byte
	repetitionLevel byte
	columnIndex     uint16 // stored complemented, so that the zero Value is column -1
}

var fastLevels = checkLayout()

// setLevels gives *v the levels rep and def and the column index col, like
// *v = v.Level(rep, def, col). Levels are below 256 and col below 65535, as
// parquet-go requires: the planner keeps them there.
func setLevels(v *pq.Value, rep, def, col int) {
	if !fastLevels {
		*v = v.Level(rep, def, col)
		return
	}
	r := (*rawValue)(unsafe.Pointer(v))
	r.repetitionLevel, r.definitionLevel, r.columnIndex = byte(rep), byte(def), ^uint16(col)
}

// setRep changes only the repetition level of *v.
func setRep(v *pq.Value, rep int) {
	if !fastLevels {
		*v = v.Level(rep, v.DefinitionLevel(), v.Column())
		return
	}
	(*rawValue)(unsafe.Pointer(v)).repetitionLevel = byte(rep)
}

// checkLayout reports whether rawValue matches parquet-go's Value: setting
// levels through it must give what Level gives, for every kind of value, and
// leave the value itself untouched.
func checkLayout() bool {
	if unsafe.Sizeof(pq.Value{}) != unsafe.Sizeof(rawValue{}) {
		return false
	}
	values := []pq.Value{
		{},
		pq.BooleanValue(true),
		pq.Int32Value(-7),
		pq.Int64Value(-1 << 40),
		pq.FloatValue(1.5),
		pq.DoubleValue(-2.25),
		pq.ByteArrayValue([]byte("abc")),
	}
	for _, v := range values {
		for _, lv := range [][3]int{{0, 0, 0}, {1, 2, 3}, {255, 254, 65534}, {3, 1, 40000}} {
			want := v.Level(lv[0], lv[1], lv[2])
			got := v
			r := (*rawValue)(unsafe.Pointer(&got))
			r.repetitionLevel, r.definitionLevel, r.columnIndex = byte(lv[0]), byte(lv[1]), ^uint16(lv[2])
			if got.RepetitionLevel() != want.RepetitionLevel() ||
				got.DefinitionLevel() != want.DefinitionLevel() ||
				got.Column() != want.Column() ||
				got.Kind() != want.Kind() ||
				got.IsNull() != want.IsNull() ||
				!bytes.Equal(got.Bytes(), want.Bytes()) {
				return false
			}
		}
	}
	return true
}
