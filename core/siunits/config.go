package siunits

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Config is the `si_units` transform's `config:` section. Start from
// DefaultConfig: the zero value has no energy or heart-rate unit.
type Config struct {
	// Fields overrides the catalogue per field. A key is a field path
	// ("calories", "accelerations.threshold_1.threshold") that applies in every
	// stream, or STREAM:PATH ("asi.preprocessed.gnss:speed") for one stream; a
	// STREAM:PATH key wins over a bare PATH key, and a key without patterns
	// over one with. Keys may be path.Match patterns ("azumio.checkins.*:calories")
	// and must name a field of the catalogue.
	Fields map[string]Field `yaml:"fields" doc:"per-field overrides: {PATH or STREAM:PATH: {from, to, keep}}, e.g. {calories: {to: kcal}}"`
	// Suffix appends the unit to the name of every converted column: distance
	// becomes distance_m, calories calories_j.
	Suffix bool `yaml:"suffix" doc:"append the unit to converted column names (distance_m, max_speed_m_s)" default:"false"`
	// HeartRate is the unit heart rates end up in: "1/min" or "Hz".
	HeartRate string `yaml:"heart_rate" doc:"unit of heart rates: 1/min or Hz" default:"1/min"`
	// Energy is the unit energies end up in: "J" or "kcal".
	Energy string `yaml:"energy" doc:"unit of energies (calories): J or kcal" default:"J"`
	// Streams restricts the transform to the streams matching one of these
	// path.Match patterns ("azumio.*"); batches of other streams pass unchanged.
	// Empty means every stream.
	Streams []string `yaml:"streams" doc:"only convert streams matching one of these patterns, e.g. [azumio.*]; default every stream"`
}

// Field is the override of one field.
type Field struct {
	// From is the unit the source sends the field in, when it differs from the
	// catalogue's and the field's `unit` metadata (both of which it overrides).
	From string `yaml:"from" doc:"unit the field arrives in (default: its unit metadata, else the catalogue's)"`
	// To is the unit to convert the field to (default: the SI unit of its quantity).
	To string `yaml:"to" doc:"unit to convert to (default: SI, or the energy / heart_rate option)"`
	// Keep adds a second column holding the field in this unit, named
	// FIELD_SUFFIX (calories_kcal) beside the converted one.
	Keep string `yaml:"keep" doc:"also keep the field in this unit, as a column FIELD_UNIT beside it (keep: kcal gives calories_kcal)"`
}

// DefaultConfig returns the configuration of an empty `config:` section:
// energies in J, heart rates in 1/min, no suffix, every stream.
func DefaultConfig() Config {
	return Config{HeartRate: "1/min", Energy: "J"}
}

// override is a checked Field with its key split.
type override struct {
	key          string
	stream, path string // stream "" applies to every stream
	from, to     *Unit  // nil: not given
	keep         *Unit
}

// checked is a Config turned into what the transform uses.
type checked struct {
	cfg       Config
	overrides []override // STREAM:PATH keys first, then by key
	energy    *Unit
	heartRate *Unit
}

// errorf reports one problem with the option at key ("energy", "fields.calories.to").
type errorf func(key, format string, args ...any) error

// check returns every problem of c at once, each made by report, in a stable
// order (by key).
func (c Config) check(report errorf) (*checked, []error) {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, report(key, format, args...))
	}
	ck := &checked{cfg: c}

	ck.energy = choice(c.Energy, "energy", []string{"J", "kcal"}, add)
	ck.heartRate = choice(c.HeartRate, "heart_rate", []string{"1/min", "Hz"}, add)
	for i, s := range c.Streams {
		if _, err := path.Match(s, ""); err != nil || s == "" {
			add(fmt.Sprintf("streams[%d]", i), "invalid stream pattern %q (want a stream name or a pattern like azumio.*)", s)
		}
	}

	keys := make([]string, 0, len(c.Fields))
	for k := range c.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if o, ok := checkField(k, c.Fields[k], add); ok {
			ck.overrides = append(ck.overrides, o)
		}
	}
	// Lookups take the first match: the most specific key first.
	slices.SortStableFunc(ck.overrides, func(a, b override) int { return a.rank() - b.rank() })
	return ck, errs
}

// choice resolves the unit option key, which must be one of allowed.
func choice(name, key string, allowed []string, add func(key, format string, args ...any)) *Unit {
	u, ok := unitByName[name]
	if !ok || !slices.Contains(allowed, u.Name) {
		add(key, "unknown unit %q (want one of: %s)", name, strings.Join(allowed, ", "))
		return nil
	}
	return u
}

// checkField checks one `fields:` entry against the catalogue.
func checkField(key string, f Field, add func(key, format string, args ...any)) (override, bool) {
	at := "fields." + key
	o := override{key: key, path: key}
	if s, p, ok := strings.Cut(key, ":"); ok {
		o.stream, o.path = s, p
	}
	if o.path == "" || (o.stream == "" && strings.Contains(key, ":")) {
		add(at, "want PATH or STREAM:PATH, got %q", key)
		return o, false
	}
	for _, pat := range []string{o.stream, o.path} {
		if _, err := path.Match(pat, ""); err != nil {
			add(at, "invalid pattern %q: %v", pat, err)
			return o, false
		}
	}
	entries := o.entries()
	if len(entries) == 0 {
		add(at, "%s", unknownField(o))
		return o, false
	}

	// The field's dimension: every catalogue entry the key names must agree.
	q := entries[0].Quantity
	for _, e := range entries[1:] {
		if e.Quantity.dimension() != q.dimension() {
			add(at, "names fields of different kinds (%s in %s, %s in %s); name one stream with STREAM:PATH",
				entries[0].Quantity, entries[0].Stream, e.Quantity, e.Stream)
			return o, false
		}
		if e.Quantity != q {
			q = quantityOf(q.dimension())
		}
	}
	dim := q.dimension()
	if dim == "" {
		add(at, "%s is not a measurement (%s): it has no unit to convert", key, describeEntry(entries[0]))
		return o, false
	}
	if f.From == "" && f.To == "" && f.Keep == "" {
		add(at, "empty override (want at least one of: from, to, keep)")
		return o, false
	}

	ok := true
	unit := func(sub, name string) *Unit {
		if name == "" {
			return nil
		}
		u, known := unitByName[name]
		switch {
		case !known:
			add(at+"."+sub, "unknown unit %q (want one of: %s)", name, unitNames(dim))
		case u.Dimension != dim:
			add(at+"."+sub, "cannot use %s (%s) for %s, which is %s (want one of: %s)", u.Name, u.Dimension, key, dim, unitNames(dim))
		default:
			return u
		}
		ok = false
		return nil
	}
	o.from = unit("from", f.From)
	o.to = unit("to", f.To)
	o.keep = unit("keep", f.Keep)
	if !ok {
		return o, false
	}
	switch q {
	case QInstant:
		if o.to != nil || o.keep != nil {
			add(at, "%s is a point in time and becomes an Arrow timestamp (UTC); only from (s, ms or us) applies", key)
			return o, false
		}
		if o.from != nil && o.from.Num > 1 {
			add(at+".from", "a point in time must be a UNIX number of s, ms or us, got %s", o.from.Name)
			return o, false
		}
	case QUTCOffset:
		if o.to != nil || o.keep != nil {
			add(at, "%s is a UTC offset and becomes utc_offset_s (int32 seconds); only from applies", key)
			return o, false
		}
	}
	return o, true
}

// rank orders overrides from the most specific: an exact STREAM:PATH key, a
// STREAM:PATH key with patterns, an exact PATH key, a PATH pattern.
func (o override) rank() int {
	pattern := strings.ContainsAny(o.stream+o.path, `*?[\`)
	switch {
	case o.stream != "" && !pattern:
		return 0
	case o.stream != "":
		return 1
	case !pattern:
		return 2
	}
	return 3
}

// entries returns the catalogue entries an override key names.
func (o override) entries() []Entry {
	var out []Entry
	for _, e := range catalogue {
		if (o.stream == "" || match(e.Stream, o.stream) || match(o.stream, e.Stream)) && (match(e.Path, o.path) || match(o.path, e.Path)) {
			out = append(out, e)
		}
	}
	return out
}

// matches reports whether the override applies to the field at fieldPath of stream.
func (o override) matches(stream, fieldPath string) bool {
	return (o.stream == "" || match(o.stream, stream)) && match(o.path, fieldPath)
}

// unknownField explains an override key that names no catalogue field.
func unknownField(o override) string {
	var streams, paths []string
	for _, e := range catalogue {
		if o.stream != "" && (match(e.Stream, o.stream) || match(o.stream, e.Stream)) {
			if !slices.Contains(paths, e.Path) {
				paths = append(paths, e.Path)
			}
		}
		if !slices.Contains(streams, e.Stream) {
			streams = append(streams, e.Stream)
		}
	}
	switch {
	case o.stream == "":
		return fmt.Sprintf("unknown field %q: no stream of the unit catalogue has it (write STREAM:PATH for one stream; streams: %s)", o.path, strings.Join(streams, ", "))
	case len(paths) == 0:
		return fmt.Sprintf("unknown stream %q (the unit catalogue knows: %s)", o.stream, strings.Join(streams, ", "))
	}
	return fmt.Sprintf("unknown field %q in stream %s (the unit catalogue knows: %s)", o.path, o.stream, strings.Join(paths, ", "))
}

func describeEntry(e Entry) string {
	if e.Note != "" {
		return e.Note
	}
	return string(e.Quantity)
}
