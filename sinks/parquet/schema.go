package parquet

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// The Parquet types of groups, taken from parquet-go (which does not export them).
var (
	groupType = pq.Group{}.Type()
	listType  = pq.List(pq.String()).Type()
)

// group is a parquet-go group node whose fields keep the order they are given
// in. parquet-go's own pq.Group is a map and sorts its fields by name, but a
// file's columns must follow the Arrow schema's order.
type group struct {
	fields []pq.Field
	typ    pq.Type // groupType, or listType for the outer group of a LIST
}

func newGroup(typ pq.Type, names []string, nodes []pq.Node) *group {
	g := &group{typ: typ, fields: make([]pq.Field, len(names))}
	for i, name := range names {
		// A one-field pq.Group gives a pq.Field with parquet-go's own
		// name and Go-value lookup.
		g.fields[i] = pq.Group{name: nodes[i]}.Fields()[0]
	}
	return g
}

func (g *group) ID() int                     { return 0 }
func (g *group) String() string              { return printNode(g) }
func (g *group) Type() pq.Type               { return g.typ }
func (g *group) Optional() bool              { return false }
func (g *group) Repeated() bool              { return false }
func (g *group) Required() bool              { return true }
func (g *group) Leaf() bool                  { return false }
func (g *group) Fields() []pq.Field          { return g.fields }
func (g *group) Encoding() encoding.Encoding { return nil }
func (g *group) Compression() compress.Codec { return nil }

// GoType is the Go type of the same fields as a pq.Group, which parquet-go
// derives by name; only its reflection-based row API uses it.
func (g *group) GoType() reflect.Type {
	m := make(pq.Group, len(g.fields))
	for _, f := range g.fields {
		m[f.Name()] = f
	}
	return m.GoType()
}

func printNode(n pq.Node) string {
	var b strings.Builder
	if err := pq.PrintSchema(&b, "", n); err != nil {
		return err.Error()
	}
	return b.String()
}

// leafSpec is one Parquet leaf column, in file order.
type leafSpec struct {
	path      []string // Parquet column path
	dotted    string   // dotted Arrow path, which dictionary_columns names
	canDict   bool     // dictionary encoding applies (not to booleans)
	arrowDict bool     // the Arrow column is dictionary-encoded
	node      pq.Node  // the leaf's Parquet node, for its column order
}

// schemaPlan is an Arrow schema turned into a Parquet one.
type schemaPlan struct {
	root    pq.Node       // the root group
	leaves  []leafSpec    // Parquet leaf columns in file order
	stored  *arrow.Schema // the Arrow schema as written: timestamps converted, lists' elements named "element"
	columns []node        // one shredder per top-level Arrow column
}

// planner builds a schemaPlan.
type planner struct {
	leaves []leafSpec
}

// plan converts s, or fails naming the first column the sink cannot write.
func plan(s *arrow.Schema) (*schemaPlan, error) {
	p := &planner{}
	if s.NumFields() == 0 {
		return nil, fmt.Errorf("parquet: schema has no columns")
	}
	names := make([]string, s.NumFields())
	nodes := make([]pq.Node, s.NumFields())
	stored := make([]arrow.Field, s.NumFields())
	columns := make([]node, s.NumFields())
	seen := map[string]bool{}
	for i, f := range s.Fields() {
		if f.Name == "" {
			return nil, fmt.Errorf("parquet: column %d has no name", i)
		}
		if seen[f.Name] {
			return nil, fmt.Errorf("parquet: column %q appears twice", f.Name)
		}
		seen[f.Name] = true
		n, st, sh, err := p.field(f, []string{f.Name}, f.Name, 0, 0)
		if err != nil {
			return nil, err
		}
		names[i], nodes[i], stored[i], columns[i] = f.Name, n, st, sh
	}
	if len(p.leaves) > pq.MaxColumnIndex+1 {
		return nil, fmt.Errorf("parquet: schema has %d leaf columns, more than %d", len(p.leaves), pq.MaxColumnIndex+1)
	}
	meta := s.Metadata()
	return &schemaPlan{
		root:    newGroup(groupType, names, nodes),
		leaves:  p.leaves,
		stored:  arrow.NewSchema(stored, &meta),
		columns: columns,
	}, nil
}

// maxLevel is parquet-go's limit of repetition and definition levels.
const maxLevel = min(pq.MaxRepetitionLevel, pq.MaxDefinitionLevel)

// field converts one Arrow field at Parquet column path path (and dotted Arrow
// path dotted), below parents that reached definition level def and repetition
// level rep. It returns its Parquet node, the field as stored in ARROW:schema
// and the shredder that writes its values.
func (p *planner) field(f arrow.Field, path []string, dotted string, def, rep int) (pq.Node, arrow.Field, node, error) {
	column := strings.Join(path, ".")
	if f.Nullable {
		def++
	}
	if def > maxLevel || rep > maxLevel {
		return nil, arrow.Field{}, nil, fmt.Errorf("parquet: column %s: nested too deeply", column)
	}
	wrap := func(n pq.Node) pq.Node {
		if f.Nullable {
			return pq.Optional(n)
		}
		return pq.Required(n)
	}
	storedField := func(t arrow.DataType) arrow.Field {
		return arrow.Field{Name: f.Name, Type: t, Nullable: f.Nullable, Metadata: f.Metadata}
	}

	switch t := f.Type.(type) {
	case *arrow.StructType:
		if t.NumFields() == 0 {
			return nil, arrow.Field{}, nil, fmt.Errorf("parquet: column %s: a struct without fields has no Parquet form", column)
		}
		names := make([]string, t.NumFields())
		nodes := make([]pq.Node, t.NumFields())
		stored := make([]arrow.Field, t.NumFields())
		children := make([]node, t.NumFields())
		for i, cf := range t.Fields() {
			n, st, sh, err := p.field(cf, append(path[:len(path):len(path)], cf.Name), dotted+"."+cf.Name, def, rep)
			if err != nil {
				return nil, arrow.Field{}, nil, err
			}
			names[i], nodes[i], stored[i], children[i] = cf.Name, n, st, sh
		}
		return wrap(newGroup(groupType, names, nodes)), storedField(arrow.StructOf(stored...)),
			&structNode{nullable: f.Nullable, column: column, children: children}, nil

	case *arrow.ListType, *arrow.LargeListType, *arrow.FixedSizeListType:
		elem := t.(arrow.ListLikeType).ElemField()
		elem.Name = "element"
		listPath := append(path[:len(path):len(path)], "list")
		// The repeated group adds one repetition and one definition level.
		en, est, esh, err := p.field(elem, append(listPath, "element"), dotted, def+1, rep+1)
		if err != nil {
			return nil, arrow.Field{}, nil, err
		}
		repeated := pq.Repeated(newGroup(groupType, []string{"element"}, []pq.Node{en}))
		var st arrow.DataType
		switch t := t.(type) {
		case *arrow.ListType:
			st = arrow.ListOfField(est)
		case *arrow.LargeListType:
			st = arrow.LargeListOfField(est)
		case *arrow.FixedSizeListType:
			st = arrow.FixedSizeListOfField(t.Len(), est)
		}
		return wrap(newGroup(listType, []string{"list"}, []pq.Node{repeated})), storedField(st),
			&listNode{nullable: f.Nullable, column: column, rep: rep + 1, elem: esh}, nil
	}

	// A leaf.
	valueType, isDict := f.Type, false
	if d, ok := f.Type.(*arrow.DictionaryType); ok {
		valueType, isDict = d.ValueType, true
	}
	leafNodeOf, get, st, err := leafOf(valueType, column)
	if err != nil {
		return nil, arrow.Field{}, nil, err
	}
	if isDict {
		d := f.Type.(*arrow.DictionaryType)
		st = &arrow.DictionaryType{IndexType: d.IndexType, ValueType: st, Ordered: d.Ordered}
		get = &dictGetter{values: get}
	}
	p.leaves = append(p.leaves, leafSpec{
		path:      path,
		dotted:    dotted,
		canDict:   valueType.ID() != arrow.BOOL,
		arrowDict: isDict,
		node:      leafNodeOf,
	})
	ch := get.column().base()
	ch.path, ch.column = path, column
	ch.ptype = *leafNodeOf.Type().PhysicalType()
	ch.maxDef, ch.maxRep = byte(def), byte(rep)
	return wrap(leafNodeOf), storedField(st), &leafNode{nullable: f.Nullable, column: column, get: get}, nil
}

// leafOf returns the Parquet leaf node of an Arrow value type, the getter that
// reads its values into a new column and the type as stored in ARROW:schema.
func leafOf(t arrow.DataType, column string) (pq.Node, getter, arrow.DataType, error) {
	switch t := t.(type) {
	case *arrow.Int8Type:
		return pq.Int(8), newFixedGetter(signedOrder, widen[int8]), t, nil
	case *arrow.Int16Type:
		return pq.Int(16), newFixedGetter(signedOrder, widen[int16]), t, nil
	case *arrow.Int32Type:
		return pq.Int(32), newFixedGetter[int32, int32](signedOrder, nil), t, nil
	case *arrow.Int64Type:
		return pq.Int(64), newFixedGetter[int64, int64](signedOrder, nil), t, nil
	case *arrow.Uint8Type:
		return pq.Uint(8), newFixedGetter(signedOrder, widen[uint8]), t, nil
	case *arrow.Uint16Type:
		return pq.Uint(16), newFixedGetter(signedOrder, widen[uint16]), t, nil
	case *arrow.Uint32Type:
		// INT32 holds the bits; the annotation says they are unsigned.
		return pq.Uint(32), newFixedGetter[uint32, int32](unsignedOrder, nil), t, nil
	case *arrow.Uint64Type:
		return pq.Uint(64), newFixedGetter[uint64, int64](unsignedOrder, nil), t, nil
	case *arrow.Float32Type:
		return pq.Leaf(pq.FloatType), newFixedGetter[float32, float32](floatOrder, nil), t, nil
	case *arrow.Float64Type:
		return pq.Leaf(pq.DoubleType), newFixedGetter[float64, float64](floatOrder, nil), t, nil
	case *arrow.BooleanType:
		return pq.Leaf(pq.BooleanType), &boolGetter{col: &boolColumn{}}, t, nil
	case *arrow.StringType:
		return pq.String(), &bytesGetter[int32]{col: &bytesColumn{}}, t, nil
	case *arrow.LargeStringType:
		return pq.String(), &bytesGetter[int64]{col: &bytesColumn{}}, t, nil
	case *arrow.BinaryType:
		return pq.Leaf(pq.ByteArrayType), &bytesGetter[int32]{col: &bytesColumn{}}, t, nil
	case *arrow.LargeBinaryType:
		return pq.Leaf(pq.ByteArrayType), &bytesGetter[int64]{col: &bytesColumn{}}, t, nil
	case *arrow.Date32Type:
		return pq.Date(), newFixedGetter[arrow.Date32, int32](signedOrder, nil), t, nil
	case *arrow.Date64Type:
		// Parquet's DATE is days; Arrow's date64 is milliseconds of whole days.
		return pq.Date(), newFixedGetter(signedOrder, date64Days), arrow.FixedWidthTypes.Date32, nil
	case *arrow.TimestampType:
		// Instants in UTC, never nanoseconds (some readers reject them):
		// seconds widen to milliseconds, nanoseconds narrow to microseconds
		// (rounding down, so a time never moves to the next microsecond).
		tz := t.TimeZone
		if tz == "" {
			tz = "UTC"
		}
		switch t.Unit {
		case arrow.Second:
			g := newFixedGetter(signedOrder, secondsToMillis)
			g.check = secondsFit(column)
			return pq.TimestampAdjusted(pq.Millisecond, true), g,
				&arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: tz}, nil
		case arrow.Millisecond:
			return pq.TimestampAdjusted(pq.Millisecond, true), newFixedGetter[arrow.Timestamp, int64](signedOrder, nil),
				&arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: tz}, nil
		case arrow.Microsecond:
			return pq.TimestampAdjusted(pq.Microsecond, true), newFixedGetter[arrow.Timestamp, int64](signedOrder, nil),
				&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: tz}, nil
		case arrow.Nanosecond:
			return pq.TimestampAdjusted(pq.Microsecond, true), newFixedGetter(signedOrder, nanosToMicros),
				&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: tz}, nil
		}
	}
	return nil, nil, nil, fmt.Errorf("parquet: column %s: unsupported Arrow type %s", column, t)
}

// schemaElements flattens the Parquet schema under root, depth first, as a
// file's footer lists it, the way parquet-go's writer does.
func schemaElements(root pq.Node) []format.SchemaElement {
	var out []format.SchemaElement
	var walk func(name string, n pq.Node, isRoot bool)
	walk = func(name string, n pq.Node, isRoot bool) {
		t := n.Type()
		e := format.SchemaElement{Name: name}
		if !isRoot {
			switch {
			case n.Optional():
				e.RepetitionType = thrift.New(format.Optional)
			case n.Repeated():
				e.RepetitionType = thrift.New(format.Repeated)
			default:
				e.RepetitionType = thrift.New(format.Required)
			}
		}
		if lt := t.LogicalType(); lt != nil {
			e.LogicalType = *lt
		}
		if n.Leaf() {
			e.Type = thrift.New(*t.PhysicalType())
		} else {
			e.NumChildren = thrift.New(int32(len(n.Fields())))
		}
		if ct := t.ConvertedType(); ct != nil {
			e.ConvertedType = thrift.New(*ct)
		}
		out = append(out, e)
		for _, f := range n.Fields() {
			walk(f.Name(), f, false)
		}
	}
	walk("schema", root, true)
	return out
}

// arrowSchemaValue serializes s the way arrow's pqarrow stores it under the
// ARROW:schema key: base64 of an IPC stream holding just the schema, so that
// pqarrow restores types and field metadata on read.
func arrowSchemaValue(s *arrow.Schema, mem memory.Allocator) (string, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(s), ipc.WithAllocator(mem))
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("parquet: serialize the Arrow schema: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// fieldMetadata lists every field's Arrow metadata as plain key-values,
// "<column path>.<key>" (e.g. "speed.unit" = "m/s"), for readers that do not
// read ARROW:schema. Nested struct fields use dotted paths.
func fieldMetadata(s *arrow.Schema) map[string]string {
	out := map[string]string{}
	var walk func(prefix string, f arrow.Field)
	walk = func(prefix string, f arrow.Field) {
		name := f.Name
		if prefix != "" {
			name = prefix + "." + f.Name
		}
		for i, k := range f.Metadata.Keys() {
			out[name+"."+k] = f.Metadata.Values()[i]
		}
		t := f.Type
		for {
			if l, ok := t.(arrow.ListLikeType); ok {
				t = l.Elem()
				continue
			}
			break
		}
		if st, ok := t.(*arrow.StructType); ok {
			for _, c := range st.Fields() {
				walk(name, c)
			}
		}
	}
	for _, f := range s.Fields() {
		walk("", f)
	}
	return out
}
