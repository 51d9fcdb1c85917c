package azumio

import (
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/goccy/go-json/jsontext"
)

// Fragments are decoded with the scanner alone: they are small next to a page of
// check-ins, and their arrays may hold nulls (a minute without data), which a
// typed slice would turn into zeros.

// fragmentOwner is the check-in a fragment belongs to.
type fragmentOwner struct {
	user    string
	id      string
	version int64
	fragID  string
}

// fragmentStream builds the records of one stream azumio.fragments.<name>.
type fragmentStream struct {
	name   string
	stream string
	rb     *array.RecordBuilder
	extra  []byte
}

func newFragmentStream(mem memory.Allocator, name string) *fragmentStream {
	schema := genericFragmentSchema
	switch name {
	case "steps_profile":
		schema = stepsProfileSchema
	case "path":
		schema = pathSchema
	}
	return &fragmentStream{name: name, stream: streamFragments + name, rb: array.NewRecordBuilder(mem, schema)}
}

func (fs *fragmentStream) release()                  { fs.rb.Release() }
func (fs *fragmentStream) rows() int                 { return fs.rb.Field(0).Len() }
func (fs *fragmentStream) record() arrow.RecordBatch { return fs.rb.NewRecordBatch() }

func (fs *fragmentStream) prefix(o fragmentOwner) {
	fs.rb.Field(0).(*array.StringBuilder).Append(o.user)
	fs.rb.Field(1).(*array.StringBuilder).Append(o.id)
	fs.rb.Field(2).(*array.Int64Builder).Append(o.version)
	fs.rb.Field(3).(*array.StringBuilder).Append(o.fragID)
}

// rollback removes the rows appended from row n on, after a fragment turned out
// malformed half-way: its rows go to the dead letters instead.
func (fs *fragmentStream) rollback(n int) {
	if fs.rows() == n {
		return
	}
	rec := fs.rb.NewRecordBatch()
	defer rec.Release()
	for i := range rec.NumCols() {
		col := rec.Column(int(i))
		for r := range n {
			appendValue(fs.rb.Field(int(i)), col, r)
		}
	}
}

// appendValue copies row r of col into b.
func appendValue(b array.Builder, col arrow.Array, r int) {
	if col.IsNull(r) {
		b.AppendNull()
		return
	}
	switch c := col.(type) {
	case *array.String:
		b.(*array.StringBuilder).Append(c.Value(r))
	case *array.Int64:
		b.(*array.Int64Builder).Append(c.Value(r))
	case *array.Float64:
		b.(*array.Float64Builder).Append(c.Value(r))
	case *array.Timestamp:
		b.(*array.TimestampBuilder).Append(c.Value(r))
	default:
		panic(fmt.Sprintf("azumio: appendValue: unexpected %s", col.DataType()))
	}
}

// add appends the rows of one fragment's JSON. A fragment of the wrong shape is
// an error (the caller dead-letters it) and leaves no rows behind.
func (fs *fragmentStream) add(o fragmentOwner, body []byte) error {
	before := fs.rows()
	var err error
	switch fs.name {
	case "steps_profile":
		err = fs.addStepsProfile(o, body)
	case "path":
		err = fs.addPath(o, body)
	default:
		fs.prefix(o)
		fs.rb.Field(4).(*array.StringBuilder).BinaryBuilder.Append(body)
		s := scanner{b: body}
		if _, err = s.value(); err == nil {
			err = s.end()
		}
	}
	if err != nil {
		fs.rollback(before)
	}
	return err
}

// members collects the raw members of an object; known says which keys are
// known, the others are appended to extra as JSON members.
func objectMembers(s *scanner, known func(key, val []byte) (bool, error), extra *[]byte) error {
	return s.object(func(key []byte) error {
		val, err := s.value()
		if err != nil {
			return err
		}
		ok, err := known(key, val)
		if err != nil {
			return fmt.Errorf("%q: %w", key, err)
		}
		if !ok {
			if len(*extra) > 0 {
				*extra = append(*extra, ',')
			}
			*extra, _ = jsontext.AppendQuote(*extra, key)
			*extra = append(*extra, ':')
			*extra = append(*extra, val...)
		}
		return nil
	})
}

// extraValue appends members (without braces) as a JSON object, or null.
func appendExtraColumn(b *array.StringBuilder, members ...[]byte) {
	n := 0
	for _, m := range members {
		n += len(m)
	}
	if n == 0 {
		b.AppendNull()
		return
	}
	out := make([]byte, 0, n+2+len(members))
	out = append(out, '{')
	for _, m := range members {
		if len(m) == 0 {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, m...)
	}
	b.BinaryBuilder.Append(append(out, '}'))
}

func (fs *fragmentStream) addStepsProfile(o fragmentOwner, body []byte) error {
	var (
		interval, start   int64
		haveIv, haveStart bool
		values            []byte
	)
	fs.extra = fs.extra[:0]
	s := scanner{b: body}
	err := objectMembers(&s, func(key, val []byte) (bool, error) {
		var err error
		switch string(key) {
		case "interval":
			interval, err = parseInt(val)
			haveIv = err == nil
		case "start":
			start, err = parseInt(val)
			haveStart = err == nil
		case "values":
			values = val
		default:
			return false, nil
		}
		return true, err
	}, &fs.extra)
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return err
	}
	if !haveIv || !haveStart || interval <= 0 {
		return fmt.Errorf("steps_profile without start or a positive interval")
	}
	if values == nil || isNull(values) {
		return nil
	}
	vs := scanner{b: values}
	i := int64(0)
	return vs.array(func() error {
		raw, err := vs.value()
		if err != nil {
			return err
		}
		fs.prefix(o)
		fs.rb.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(start + i*interval*1000))
		fs.rb.Field(5).(*array.Int64Builder).Append(interval)
		if isNull(raw) {
			fs.rb.Field(6).AppendNull()
		} else {
			v, err := strconv.ParseFloat(string(raw), 64)
			if err != nil {
				return fmt.Errorf("values[%d]: want a number, got %s", i, raw)
			}
			fs.rb.Field(6).(*array.Float64Builder).Append(v)
		}
		appendExtraColumn(fs.rb.Field(7).(*array.StringBuilder), fs.extra)
		i++
		return nil
	})
}

func (fs *fragmentStream) addPath(o fragmentOwner, body []byte) error {
	var points []byte
	fs.extra = fs.extra[:0]
	s := scanner{b: body}
	err := objectMembers(&s, func(key, val []byte) (bool, error) {
		if string(key) == "points" {
			points = val
			return true, nil
		}
		return false, nil
	}, &fs.extra)
	if err == nil {
		err = s.end()
	}
	if err != nil || points == nil || isNull(points) {
		return err
	}
	ps := scanner{b: points}
	var pointExtra []byte
	return ps.array(func() error {
		var (
			t             int64
			lat, lon, alt float64
			has           [4]bool
		)
		pointExtra = pointExtra[:0]
		err := objectMembers(&ps, func(key, val []byte) (bool, error) {
			var err error
			null := isNull(val)
			switch string(key) {
			case "t":
				if !null {
					t, err = parseInt(val)
					has[0] = true
				}
			case "lat":
				if !null {
					lat, err = strconv.ParseFloat(string(val), 64)
					has[1] = true
				}
			case "lon":
				if !null {
					lon, err = strconv.ParseFloat(string(val), 64)
					has[2] = true
				}
			case "alt":
				if !null {
					alt, err = strconv.ParseFloat(string(val), 64)
					has[3] = true
				}
			default:
				return false, nil
			}
			return true, err
		}, &pointExtra)
		if err != nil {
			return err
		}
		fs.prefix(o)
		appendTS(fs.rb.Field(4).(*array.TimestampBuilder), has[0], t)
		appendF64(fs.rb.Field(5).(*array.Float64Builder), has[1], lat)
		appendF64(fs.rb.Field(6).(*array.Float64Builder), has[2], lon)
		appendF64(fs.rb.Field(7).(*array.Float64Builder), has[3], alt)
		appendExtraColumn(fs.rb.Field(8).(*array.StringBuilder), pointExtra, fs.extra)
		return nil
	})
}

// profileStream builds the records of azumio.profile.
type profileStream struct {
	rb *array.RecordBuilder
}

func newProfileStream(mem memory.Allocator) *profileStream {
	return &profileStream{rb: array.NewRecordBuilder(mem, profileSchema)}
}

func (ps *profileStream) release() { ps.rb.Release() }

// add appends a profile (GET /api2/users/me). Known members that are not strings
// (an id sent as a number) are kept as their JSON text.
func (ps *profileStream) add(user string, body []byte) error {
	cols := map[string]int{"id": 1, "name": 2, "first_name": 3, "gender": 4, "birthday": 5, "picture": 6}
	var vals [7][]byte
	var extra []byte
	s := scanner{b: body}
	err := objectMembers(&s, func(key, val []byte) (bool, error) {
		i, ok := cols[string(key)]
		if ok {
			vals[i] = val
		}
		return ok, nil
	}, &extra)
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return err
	}
	ps.rb.Field(0).(*array.StringBuilder).Append(user)
	for i := 1; i <= 6; i++ {
		b := ps.rb.Field(i).(*array.StringBuilder)
		if vals[i] == nil || isNull(vals[i]) {
			b.AppendNull()
		} else {
			b.Append(jsonText(vals[i]))
		}
	}
	appendExtraColumn(ps.rb.Field(7).(*array.StringBuilder), extra)
	return nil
}
