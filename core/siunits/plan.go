package siunits

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// unitKey is the Arrow field-metadata key that holds a field's unit.
const unitKey = "unit"

// utcOffsetName is the column a UTC offset in hours becomes.
const utcOffsetName = "utc_offset_s"

// plan is how the records of one stream with one schema are converted. It is
// built once per schema and reused for every batch with that schema.
type plan struct {
	in, out *arrow.Schema
	steps   []*step // one per output column
	same    bool    // out is in: batches pass through untouched
}

// step is how one field of the input (a column, a struct child or a list
// element) becomes one field of the output.
type step struct {
	src  int         // index of the input column or struct child it reads
	out  arrow.Field // the output field
	same bool        // out is the input field: the data is reused as is
	leaf *conv       // numbers: convert them
	elem *step       // list types: the step of the element
	kids []*step     // structs: the steps of the output children
}

// exec converts d, the data of the step's input field, and returns the output
// data, which the caller releases.
func (s *step) exec(mem memory.Allocator, d arrow.ArrayData) (arrow.ArrayData, error) {
	switch {
	case s.same:
		d.Retain()
		return d, nil
	case s.leaf != nil:
		return s.leaf.apply(mem, d)
	case s.elem != nil:
		child, err := s.elem.exec(mem, d.Children()[0])
		if err != nil {
			return nil, err
		}
		defer child.Release()
		return array.NewData(s.out.Type, d.Len(), d.Buffers(), []arrow.ArrayData{child}, d.NullN(), d.Offset()), nil
	}
	children := make([]arrow.ArrayData, 0, len(s.kids))
	defer func() {
		for _, c := range children {
			c.Release()
		}
	}()
	for _, k := range s.kids {
		c, err := k.exec(mem, d.Children()[k.src])
		if err != nil {
			return nil, err
		}
		children = append(children, c)
	}
	return array.NewData(s.out.Type, d.Len(), d.Buffers()[:1], children, d.NullN(), d.Offset()), nil
}

// apply converts rec, which it does not release, and returns the new record.
func (p *plan) apply(mem memory.Allocator, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, 0, len(p.steps))
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for _, s := range p.steps {
		col := rec.Column(s.src)
		if s.same {
			col.Retain()
			cols = append(cols, col)
			continue
		}
		d, err := s.exec(mem, col.Data())
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", s.out.Name, err)
		}
		cols = append(cols, array.MakeFromData(d))
		d.Release()
	}
	return array.NewRecordBatch(p.out, cols, rec.NumRows()), nil
}

// planner builds the plan of one stream's schema.
type planner struct {
	ck     *checked
	stream string
	// warnings are problems that leave a field unconverted but do not stop
	// the run (an unknown unit in a field's metadata); logged once per plan.
	warnings []string
}

func newPlan(ck *checked, stream string, schema *arrow.Schema) (*plan, []string, error) {
	p := &planner{ck: ck, stream: stream}
	pl := &plan{in: schema, same: true}
	var fields []arrow.Field
	for i, f := range schema.Fields() {
		steps, err := p.field(f, i, f.Name)
		if err != nil {
			return nil, p.warnings, err
		}
		for _, s := range steps {
			pl.same = pl.same && s.same && len(steps) == 1
			pl.steps = append(pl.steps, s)
			fields = append(fields, s.out)
		}
	}
	if err := uniqueNames(fields, ""); err != nil {
		return nil, p.warnings, err
	}
	if pl.same {
		pl.out = schema
		return pl, p.warnings, nil
	}
	md := schema.Metadata()
	pl.out = arrow.NewSchema(fields, &md)
	return pl, p.warnings, nil
}

func (p *planner) warnf(format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf(format, args...))
}

// field plans the field f, read from input index src, at path fieldPath. It
// returns one step, or two when an override keeps a copy in another unit.
func (p *planner) field(f arrow.Field, src int, fieldPath string) ([]*step, error) {
	if isNumber(leafType(f.Type)) {
		return p.measure(f, src, fieldPath)
	}
	same := []*step{{src: src, out: f, same: true}}
	switch t := f.Type.(type) {
	case *arrow.StructType:
		var kids []*step
		var fields []arrow.Field
		changed := false
		for i, c := range t.Fields() {
			steps, err := p.field(c, i, fieldPath+"."+c.Name)
			if err != nil {
				return nil, err
			}
			for _, s := range steps {
				changed = changed || !s.same || len(steps) > 1
				kids = append(kids, s)
				fields = append(fields, s.out)
			}
		}
		if !changed {
			return same, nil
		}
		if err := uniqueNames(fields, fieldPath+"."); err != nil {
			return nil, err
		}
		out := f
		out.Type = arrow.StructOf(fields...)
		return []*step{{src: src, out: out, kids: kids}}, nil
	case arrow.ListLikeType:
		if relist(t, t.ElemField()) == nil {
			return same, nil
		}
		// Lists are transparent: the element has the list's path. An element
		// that is not a number yields exactly one step.
		steps, err := p.field(t.ElemField(), 0, fieldPath)
		if err != nil || steps[0].same {
			return same, err
		}
		out := f
		out.Type = relist(t, steps[0].out)
		return []*step{{src: src, out: out, elem: steps[0]}}, nil
	}
	return same, nil
}

// measure plans a field of numbers (or of lists of numbers).
func (p *planner) measure(f arrow.Field, src int, fieldPath string) ([]*step, error) {
	same := []*step{{src: src, out: f, same: true}}
	entry, known := lookupEntry(p.stream, fieldPath)
	var ov *override
	for i := range p.ck.overrides {
		if p.ck.overrides[i].matches(p.stream, fieldPath) {
			ov = &p.ck.overrides[i]
			break
		}
	}

	// Where the field's unit comes from: the override's from, else the
	// field's metadata, else the catalogue.
	q := QNone
	var from *Unit
	if known {
		q = entry.Quantity
		from = unitByName[entry.Unit]
	}
	if meta := fieldUnit(f); meta != "" && (ov == nil || ov.from == nil) {
		u, ok := unitByName[meta]
		if !ok {
			p.warnf("field %s has unit %q in its metadata, which si_units does not know (known units: %s); left as it is", fieldPath, meta, unitNames(""))
			return same, nil
		}
		from = u
	}
	if ov != nil && ov.from != nil {
		from = ov.from
	}
	if from == nil {
		return same, nil
	}
	if q.dimension() != from.Dimension {
		q = quantityOf(from.Dimension)
	}

	switch q {
	case QInstant:
		c, err := instantConv(from, leafType(f.Type))
		if err != nil {
			p.warnf("field %s: %v; left as it is", fieldPath, err)
			return same, nil
		}
		return []*step{p.finish(f, src, withLeaf(f, c, ""))}, nil
	case QUTCOffset:
		c := &conv{kind: convOffset, num: float64(from.Num) / float64(from.Den), den: 1, out: arrow.PrimitiveTypes.Int32}
		out := withLeaf(f, c, "s")
		out.out.Name = utcOffsetName
		return []*step{p.finish(f, src, out)}, nil
	}

	to := p.target(q, from)
	if ov != nil && ov.to != nil {
		to = ov.to
	}
	main, err := p.scaled(f, fieldPath, from, to, ov)
	if err != nil {
		return nil, err
	}
	steps := []*step{p.finish(f, src, main)}
	if ov != nil && ov.keep != nil {
		if ov.keep == to {
			p.warnf("field %s: keep %s is the unit it is converted to; no second column", fieldPath, to.Name)
			return steps, nil
		}
		kept, err := p.scaled(f, fieldPath, from, ov.keep, ov)
		if err != nil {
			return nil, err
		}
		kept.out.Name = f.Name + "_" + ov.keep.Suffix
		steps = append(steps, p.finish(f, src, kept))
	}
	return steps, nil
}

// scaled plans the conversion of f from one unit to another, naming the
// output with the unit's suffix when the suffix option is on.
func (p *planner) scaled(f arrow.Field, fieldPath string, from, to *Unit, ov *override) (*step, error) {
	num, den, err := factor(from, to)
	if err != nil {
		// Only a `unit` metadata key can bring a unit whose dimension the
		// checked config did not foresee.
		return nil, fmt.Errorf("field %s: unit %s (from its metadata) cannot become %s as fields.%s asks: %w", fieldPath, from.Name, to.Name, ov.key, err)
	}
	c := &conv{kind: convScale, num: float64(num), den: float64(den), out: arrow.PrimitiveTypes.Float64}
	if num == 1 && den == 1 {
		c.out = leafType(f.Type)
	}
	s := withLeaf(f, c, to.Name)
	if p.ck.cfg.Suffix && !strings.HasSuffix(f.Name, "_"+to.Suffix) {
		s.out.Name = f.Name + "_" + to.Suffix
	}
	return s, nil
}

// target returns the unit a quantity becomes.
func (p *planner) target(q Quantity, from *Unit) *Unit {
	switch q {
	case QEnergy:
		return p.ck.energy
	case QHeartRate:
		return p.ck.heartRate
	case QCadence:
		return unitByName["1/min"]
	}
	for i := range units {
		if u := &units[i]; u.Dimension == from.Dimension && u.Num == 1 && u.Den == 1 {
			return u
		}
	}
	return from
}

// finish gives s the input index src and marks it same when it changes
// nothing about f.
func (p *planner) finish(f arrow.Field, src int, s *step) *step {
	s.src = src
	if s.out.Equal(f) {
		return &step{src: src, out: f, same: true}
	}
	return s
}

// instantConv returns the conversion of UNIX numbers in unit from, held in
// values of type t, to timestamps.
func instantConv(from *Unit, t arrow.DataType) (*conv, error) {
	var micros float64
	switch from.Name {
	case "s":
		micros = 1e6
	case "ms":
		micros = 1e3
	case "us":
		micros = 1
	default:
		return nil, fmt.Errorf("a point in time in %s (want s, ms or us)", from.Name)
	}
	if isFloat(t) {
		return &conv{kind: convInstant, num: micros, den: 1, out: timestamp(arrow.Microsecond)}, nil
	}
	if from.Name == "us" {
		return &conv{kind: convInstant, num: 1, den: 1, out: timestamp(arrow.Microsecond)}, nil
	}
	return &conv{kind: convInstant, num: micros / 1e3, den: 1, out: timestamp(arrow.Millisecond)}, nil
}

func timestamp(u arrow.TimeUnit) arrow.DataType {
	return &arrow.TimestampType{Unit: u, TimeZone: "UTC"}
}

// withLeaf returns the step that applies c to the numbers of f (through its
// list wrappers), with f's metadata carrying unit ("" removes the key: a
// timestamp's type says what it is). The unit is on f, the column a reader
// sees, and is removed from list elements, whose field metadata Parquet does
// not keep. The numbers' field becomes nullable when c can turn a value into
// null.
func withLeaf(f arrow.Field, c *conv, unit string) *step {
	out := f
	out.Metadata = withUnit(f.Metadata, unit)
	if lt, ok := f.Type.(arrow.ListLikeType); ok {
		e := withLeaf(lt.ElemField(), c, "")
		out.Type = relist(lt, e.out)
		return &step{out: out, elem: e}
	}
	out.Type = c.out
	out.Nullable = f.Nullable || c.mayNull(f.Type)
	return &step{out: out, leaf: c}
}

// withUnit returns md with its unit key set to unit, or removed when unit is "".
func withUnit(md arrow.Metadata, unit string) arrow.Metadata {
	var keys, vals []string
	for i, k := range md.Keys() {
		if k != unitKey {
			keys = append(keys, k)
			vals = append(vals, md.Values()[i])
		}
	}
	if unit != "" {
		keys = append(keys, unitKey)
		vals = append(vals, unit)
	}
	if len(keys) == 0 {
		return arrow.Metadata{}
	}
	return arrow.NewMetadata(keys, vals)
}

// fieldUnit returns the unit in the metadata of f or, for a list, of the
// innermost element that has one.
func fieldUnit(f arrow.Field) string {
	if u, ok := f.Metadata.GetValue(unitKey); ok {
		return u
	}
	if lt, ok := f.Type.(arrow.ListLikeType); ok {
		return fieldUnit(lt.ElemField())
	}
	return ""
}

// leafType returns the type of the values inside t's list wrappers.
func leafType(t arrow.DataType) arrow.DataType {
	for {
		lt, ok := t.(arrow.ListLikeType)
		if !ok || relist(lt, lt.ElemField()) == nil {
			return t
		}
		t = lt.Elem()
	}
}

// relist returns a list type like t with element elem, or nil for list types
// the transform does not look into (maps, list views).
func relist(t arrow.DataType, elem arrow.Field) arrow.DataType {
	switch t := t.(type) {
	case *arrow.ListType:
		return arrow.ListOfField(elem)
	case *arrow.LargeListType:
		return arrow.LargeListOfField(elem)
	case *arrow.FixedSizeListType:
		return arrow.FixedSizeListOfField(t.Len(), elem)
	}
	return nil
}

// uniqueNames fails when two fields of one record or struct have one name,
// which a rename by the suffix option or a kept copy can cause.
func uniqueNames(fields []arrow.Field, prefix string) error {
	seen := map[string]bool{}
	for _, f := range fields {
		if seen[f.Name] {
			return fmt.Errorf("two columns would be named %s%s (a unit suffix or a kept copy collides with a column the stream has); rename with the fields option or turn suffix off", prefix, f.Name)
		}
		seen[f.Name] = true
	}
	return nil
}
