package core

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Config is one component's undecoded `config:` section with its place in the
// pipeline file, so that errors found while decoding or checking it point at
// file:line:col. Environment references (${VAR}) are already substituted and YAML
// anchors, aliases and merge keys already resolved.
//
// The zero Config is an absent section: Decode leaves its target unchanged and
// Errorf reports without a position.
type Config struct {
	file string
	path string   // field path of the section, e.g. "sinks[0].config"
	node ast.Node // nil when the section is absent (or null)
	// line and col locate the section, or its component when the section is absent.
	line, col int
}

// NewConfig parses src, one YAML document, as a config section found in file at
// field path path (e.g. "sinks[0].config"), for tests and for external plugins that
// receive a section encoded by Config.YAML. Positions are those of src. Anchors,
// aliases and merge keys are resolved; ${VAR} references are not substituted, since
// a section from Config.YAML has been substituted once already. An empty or null
// document gives an absent section (IsZero). Syntax errors are returned as
// ConfigErrors.
func NewConfig(file, path string, src []byte) (Config, error) {
	body, errs := parseDocument(file, path, src, nil)
	if len(errs) > 0 {
		return Config{}, errs.Err()
	}
	c := Config{file: file, path: path, node: body, line: 1, col: 1}
	if body != nil {
		c.line, c.col = nodePos(body)
	}
	return c, nil
}

// IsZero reports whether the section is absent (or null) in the pipeline file.
func (c Config) IsZero() bool { return c.node == nil }

// Position returns where the section is in its file; when the section is absent, the
// position of the component it belongs to. line and col are 0 when unknown.
func (c Config) Position() (file string, line, col int) {
	if c.node != nil {
		line, col = nodePos(c.node)
		return c.file, line, col
	}
	return c.file, c.line, c.col
}

// Path returns the section's field path in the pipeline file, e.g. "sinks[0].config".
func (c Config) Path() string { return c.path }

// Decode decodes the section into v, a non-nil pointer to the component's config
// struct, strictly: a key that names no field (by yaml tag) is an error, and so is a
// value of the wrong kind. It reports every problem of the section at once as
// ConfigErrors, each at its key or value, and decodes whatever it can.
//
// Fields already set in v are defaults: a key that is absent or null leaves its
// field unchanged, so callers fill v with their defaults before calling Decode. Lists
// and scalars given in the file replace the default; maps are merged key by key.
// time.Duration fields take Go durations ("30s", "1m30s"); types implementing
// encoding.TextUnmarshaler take any scalar's text; types implementing goccy/go-yaml's
// unmarshaler interfaces decode themselves. A field of type Config receives its
// subsection undecoded. An absent section decodes to nothing and returns nil.
func (c Config) Decode(v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("core: Config.Decode needs a non-nil pointer, got %T", v)
	}
	if c.node == nil {
		return nil
	}
	d := decoder{file: c.file}
	d.decode(c.node, rv.Elem(), c.path)
	return d.errs.Err()
}

// Errorf returns a ConfigError about key, a dotted path relative to the section
// ("compression", "roll.max_rows", "columns[2].type"; "" for the section itself). The
// error points at key's value in the file; when key is absent it points at the
// nearest enclosing part that is there (the section, or its component).
func (c Config) Errorf(key, format string, args ...any) *ConfigError {
	e := &ConfigError{File: c.file, Path: joinPath(c.path, key), Msg: fmt.Sprintf(format, args...)}
	if c.node == nil {
		e.Line, e.Col = c.line, c.col
		return e
	}
	e.Line, e.Col = nodePos(lookupNode(c.node, key))
	return e
}

// YAML returns the section re-encoded as YAML, with environment references
// substituted and aliases resolved, for sending to an external plugin (which reads it
// back with NewConfig). Every scalar keeps its exact text and kind: strings are
// double-quoted, numbers, booleans and nulls are written as they appear in the file.
// An absent section returns nil.
func (c Config) YAML() ([]byte, error) {
	if c.node == nil {
		return nil, nil
	}
	var b bytes.Buffer
	if err := emitYAML(&b, c.node, ""); err != nil {
		return nil, fmt.Errorf("core: encode %s: %w", c.path, err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// ConfigError is one problem in a pipeline file. It prints as
// "file:line:col: field.path: what is wrong (and what is allowed)"; parts that are
// unknown are left out.
type ConfigError struct {
	File      string
	Line, Col int
	Path      string // field path, e.g. "sinks[0].config.compression"
	Msg       string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, e.Col)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ConfigErrors is every problem found in a pipeline file or config section, sorted
// by position. It prints one error per line; callers count it with len.
//
// Components collect their problems in one to report them all at once:
//
//	var errs core.ConfigErrors
//	errs.Add(env.Config.Decode(&cfg))
//	if cfg.Path == "" {
//		errs.Add(env.Config.Errorf("path", "missing (where to write the files)"))
//	}
//	if err := errs.Err(); err != nil {
//		return nil, err
//	}
type ConfigErrors []*ConfigError

func (es ConfigErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Add appends the problems in err: every ConfigError of a ConfigErrors (also when
// wrapped), a *ConfigError, or any other error as a ConfigError without position.
// A nil err (including a nil *ConfigError) adds nothing.
func (es *ConfigErrors) Add(err error) {
	if err == nil {
		return
	}
	var list ConfigErrors
	var one *ConfigError
	switch {
	case errors.As(err, &list):
		*es = append(*es, list...)
	case errors.As(err, &one):
		if one != nil {
			*es = append(*es, one)
		}
	default:
		*es = append(*es, &ConfigError{Msg: err.Error()})
	}
}

// Err sorts the problems by file and position and returns them as an error, or nil
// if there are none.
func (es ConfigErrors) Err() error {
	if len(es) == 0 {
		return nil
	}
	slices.SortStableFunc(es, func(a, b *ConfigError) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
	return es
}

// decoder walks a YAML node and a Go value side by side, collecting a ConfigError
// for every problem instead of stopping at the first one as goccy/go-yaml's own
// decoder does. It is also stricter than goccy's decoder, which silently truncates
// 1.5 into an int and parses quoted strings as numbers.
type decoder struct {
	file string
	errs ConfigErrors
}

func (d *decoder) errorf(n ast.Node, path, format string, args ...any) {
	line, col := nodePos(n)
	d.errs = append(d.errs, &ConfigError{File: d.file, Line: line, Col: col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// yamlError records an error from goccy/go-yaml at the token it names, or at n.
func (d *decoder) yamlError(n ast.Node, path string, err error) {
	line, col := nodePos(n)
	msg := err.Error()
	var ye yaml.Error
	if errors.As(err, &ye) {
		msg = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			line, col = tk.Position.Line, tk.Position.Column
		}
	}
	d.errs = append(d.errs, &ConfigError{File: d.file, Line: line, Col: col, Path: path, Msg: msg})
}

var (
	configType          = reflect.TypeFor[Config]()
	durationType        = reflect.TypeFor[time.Duration]()
	timeType            = reflect.TypeFor[time.Time]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// yamlUnmarshaler reports whether pointers to t decode themselves through one of
// goccy/go-yaml's unmarshaler interfaces.
func yamlUnmarshaler(t reflect.Type) bool {
	switch reflect.New(t).Interface().(type) {
	case yaml.BytesUnmarshaler, yaml.BytesUnmarshalerContext,
		yaml.InterfaceUnmarshaler, yaml.InterfaceUnmarshalerContext,
		yaml.NodeUnmarshaler, yaml.NodeUnmarshalerContext:
		return true
	}
	return false
}

// decode decodes n into v (settable). A nil or null node leaves v unchanged.
func (d *decoder) decode(n ast.Node, v reflect.Value, path string) {
	if n == nil || n.Type() == ast.NullType {
		return
	}
	t := v.Type()
	switch {
	case t == configType:
		line, col := nodePos(n)
		v.Set(reflect.ValueOf(Config{file: d.file, path: path, node: n, line: line, col: col}))
		return
	case t == durationType:
		d.duration(n, v, path)
		return
	case t == timeType:
		d.timestamp(n, v, path)
		return
	case yamlUnmarshaler(t):
		// goccy/go-yaml decodes these, and reports only the first problem inside.
		if err := yaml.NodeToValue(n, v.Addr().Interface(), yaml.DisallowUnknownField()); err != nil {
			d.yamlError(n, path, err)
		}
		return
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		s, ok := scalarText(n)
		if !ok {
			d.errorf(n, path, "want a scalar, got %s", describe(n))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			d.errorf(n, path, "%v", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Interface:
		if t.NumMethod() != 0 {
			d.errorf(n, path, "cannot decode into Go interface type %s", t)
			return
		}
		var x any
		if err := yaml.NodeToValue(n, &x); err != nil {
			d.yamlError(n, path, err)
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			d.errorf(n, path, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(seq.Values), len(seq.Values))
		for i, e := range seq.Values {
			d.decode(e, s.Index(i), indexPath(path, i))
		}
		v.Set(s)
	case reflect.Array:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			d.errorf(n, path, "want a list of %d, got %s", t.Len(), describe(n))
			return
		}
		if len(seq.Values) != t.Len() {
			d.errorf(n, path, "want a list of %d, got %d", t.Len(), len(seq.Values))
			return
		}
		for i, e := range seq.Values {
			d.decode(e, v.Index(i), indexPath(path, i))
		}
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		d.scalar(n, v, path)
	default:
		d.errorf(n, path, "cannot decode into Go type %s", t)
	}
}

func (d *decoder) structure(n ast.Node, v reflect.Value, path string) {
	fields := structFields(v.Type())
	m, ok := n.(*ast.MappingNode)
	if !ok {
		if len(fields.list) == 0 {
			d.errorf(n, path, "want a mapping, got %s", describe(n))
		} else {
			d.errorf(n, path, "want a mapping with keys %s, got %s", fields.known(), describe(n))
		}
		return
	}
	for _, mv := range m.Values {
		key, ok := keyText(mv.Key)
		if !ok {
			d.errorf(mv.Key, path, "want a string key, got %s", describe(mv.Key))
			continue
		}
		f, ok := fields.byName[key]
		if !ok {
			if len(fields.list) == 0 {
				d.errorf(mv.Key, joinPath(path, key), "unknown key (no options here)")
			} else {
				d.errorf(mv.Key, joinPath(path, key), "unknown key (known keys: %s)", fields.known())
			}
			continue
		}
		d.decode(mv.Value, fieldByIndex(v, f.index), joinPath(path, key))
	}
}

func (d *decoder) mapping(n ast.Node, v reflect.Value, path string) {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		d.errorf(n, path, "want a mapping, got %s", describe(n))
		return
	}
	t := v.Type()
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(t, len(m.Values)))
	}
	for _, mv := range m.Values {
		key, ok := keyText(mv.Key)
		if !ok {
			d.errorf(mv.Key, path, "want a scalar key, got %s", describe(mv.Key))
			continue
		}
		kpath := joinPath(path, key)
		kv := reflect.New(t.Key()).Elem()
		switch {
		case t.Key().Kind() == reflect.String && !reflect.PointerTo(t.Key()).Implements(textUnmarshalerType):
			kv.SetString(key)
		default:
			before := len(d.errs)
			d.decode(mv.Key, kv, kpath)
			if len(d.errs) > before {
				continue
			}
		}
		ev := reflect.New(t.Elem()).Elem()
		if old := v.MapIndex(kv); old.IsValid() {
			ev.Set(old)
		}
		d.decode(mv.Value, ev, kpath)
		v.SetMapIndex(kv, ev)
	}
}

func (d *decoder) duration(n ast.Node, v reflect.Value, path string) {
	s, ok := scalarText(n)
	if !ok {
		d.errorf(n, path, "want a duration like 30s or 1m30s, got %s", describe(n))
		return
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		d.errorf(n, path, "invalid duration %q (want a Go duration like 30s, 5m or 1h30m)", s)
		return
	}
	v.SetInt(int64(dur))
}

// timestamp decodes RFC 3339 timestamps and dates (midnight UTC); goccy/go-yaml's
// decoder turns text it cannot parse into the zero time without an error.
func (d *decoder) timestamp(n ast.Node, v reflect.Value, path string) {
	s, ok := scalarText(n)
	if !ok {
		d.errorf(n, path, "want a timestamp like 2024-05-01T10:00:00Z, got %s", describe(n))
		return
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if ts, err := time.Parse(layout, s); err == nil {
			v.Set(reflect.ValueOf(ts))
			return
		}
	}
	d.errorf(n, path, "invalid timestamp %q (want RFC 3339 like 2024-05-01T10:00:00Z, or a date like 2024-05-01)", s)
}

func (d *decoder) scalar(n ast.Node, v reflect.Value, path string) {
	if tag, ok := n.(*ast.TagNode); ok {
		// An explicit tag (!!str 12, !!float 1) is resolved by goccy/go-yaml.
		if err := yaml.NodeToValue(tag, v.Addr().Interface()); err != nil {
			d.yamlError(n, path, err)
		}
		return
	}
	switch k := v.Kind(); k {
	case reflect.String:
		s, ok := scalarText(n)
		if !ok {
			d.errorf(n, path, "want a string, got %s", describe(n))
			return
		}
		v.SetString(s)
	case reflect.Bool:
		b, ok := n.(*ast.BoolNode)
		if !ok {
			d.errorf(n, path, "want true or false, got %s", describe(n))
			return
		}
		v.SetBool(b.Value)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		lo, hi := intRange(v.Type())
		switch x := n.(type) {
		case *ast.IntegerNode:
			var i int64
			ok := true
			switch y := x.Value.(type) {
			case int64:
				i = y
			case uint64:
				i, ok = int64(y), y <= math.MaxInt64
			}
			if !ok || v.OverflowInt(i) {
				d.errorf(n, path, "must be between %d and %d, got %s", lo, hi, x.Token.Value)
				return
			}
			v.SetInt(i)
			return
		case *ast.FloatNode:
			if x.Value == math.Trunc(x.Value) && x.Value >= float64(lo) && x.Value < -float64(lo) {
				if i := int64(x.Value); !v.OverflowInt(i) {
					v.SetInt(i)
					return
				}
			}
		}
		if v.Type().Bits() == 64 {
			d.errorf(n, path, "want an integer, got %s", describe(n))
			return
		}
		d.errorf(n, path, "want an integer between %d and %d, got %s", lo, hi, describe(n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		hi := uint64(1)<<(v.Type().Bits()-1)<<1 - 1
		switch x := n.(type) {
		case *ast.IntegerNode:
			var u uint64
			switch i := x.Value.(type) {
			case int64:
				if i < 0 {
					d.errorf(n, path, "must be between 0 and %d, got %s", hi, x.Token.Value)
					return
				}
				u = uint64(i)
			case uint64:
				u = i
			}
			if v.OverflowUint(u) {
				d.errorf(n, path, "must be between 0 and %d, got %s", hi, x.Token.Value)
				return
			}
			v.SetUint(u)
			return
		case *ast.FloatNode:
			if x.Value == math.Trunc(x.Value) && x.Value >= 0 && x.Value < float64(hi) {
				v.SetUint(uint64(x.Value))
				return
			}
		}
		if v.Type().Bits() == 64 {
			d.errorf(n, path, "want an integer of 0 or more, got %s", describe(n))
			return
		}
		d.errorf(n, path, "want an integer between 0 and %d, got %s", hi, describe(n))
	case reflect.Float32, reflect.Float64:
		var f float64
		switch x := n.(type) {
		case *ast.FloatNode:
			f = x.Value
		case *ast.IntegerNode:
			switch i := x.Value.(type) {
			case int64:
				f = float64(i)
			case uint64:
				f = float64(i)
			}
		case *ast.InfinityNode:
			f = x.Value
		case *ast.NanNode:
			f = math.NaN()
		default:
			d.errorf(n, path, "want a number, got %s", describe(n))
			return
		}
		if k == reflect.Float32 && !math.IsInf(f, 0) && v.OverflowFloat(f) {
			d.errorf(n, path, "%s is too large for a 32-bit float", n.GetToken().Value)
			return
		}
		v.SetFloat(f)
	}
}

func intRange(t reflect.Type) (lo, hi int64) {
	bits := t.Bits()
	return -1 << (bits - 1), 1<<(bits-1) - 1
}

// fieldByIndex is reflect.Value.FieldByIndex that allocates nil embedded pointers
// on the way (fields of inlined *struct).
func fieldByIndex(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

// field is one option of a config struct.
type field struct {
	name    string // yaml name
	index   []int  // reflect field index, through inlined structs
	typ     reflect.Type
	doc     string // `doc` tag
	def     string // `default` tag
	defSet  bool
	goField string
}

type fieldSet struct {
	list   []*field // in declaration order
	byName map[string]*field
}

func (fs *fieldSet) known() string {
	names := make([]string, len(fs.list))
	for i, f := range fs.list {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

var fieldCache sync.Map // reflect.Type -> *fieldSet

// structFields lists the options of struct type t the way goccy/go-yaml names them:
// the yaml tag's name (or the json tag's, or the lowercased field name), skipping
// "-" and unexported fields, flattening fields tagged ",inline".
func structFields(t reflect.Type) *fieldSet {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fieldSet)
	}
	fs := &fieldSet{byName: map[string]*field{}}
	collectFields(fs, t, nil)
	actual, _ := fieldCache.LoadOrStore(t, fs)
	return actual.(*fieldSet)
}

func collectFields(fs *fieldSet, t reflect.Type, index []int) {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("yaml")
		if tag == "" {
			tag = sf.Tag.Get("json")
		}
		if tag == "-" || (!sf.IsExported() && !sf.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		idx := append(slices.Clone(index), i)
		if slices.Contains(strings.Split(opts, ","), "inline") {
			et := sf.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				collectFields(fs, et, idx)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		if _, dup := fs.byName[name]; dup {
			continue // the outer field wins, as in encoding/json
		}
		def, defSet := sf.Tag.Lookup("default")
		f := &field{name: name, index: idx, typ: sf.Type, doc: sf.Tag.Get("doc"), def: def, defSet: defSet, goField: sf.Name}
		fs.list = append(fs.list, f)
		fs.byName[name] = f
	}
}

// keyText returns the text of a scalar mapping key.
func keyText(k ast.Node) (string, bool) {
	switch x := k.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.MappingKeyNode:
		return keyText(x.Value)
	}
	return scalarText(k)
}

// scalarText returns the text of a scalar node: a string's value, or a number's,
// bool's or null's text as written.
func scalarText(n ast.Node) (string, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.LiteralNode:
		return x.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode, *ast.NullNode:
		return x.GetToken().Value, true
	}
	return "", false
}

// describe names what n is, for "want X, got Y" messages.
func describe(n ast.Node) string {
	switch x := n.(type) {
	case nil, *ast.NullNode:
		return "null"
	case *ast.MappingNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode:
		return fmt.Sprintf("string %q", x.Value)
	case *ast.LiteralNode:
		return fmt.Sprintf("string %q", x.Value.Value)
	case *ast.IntegerNode:
		return "integer " + x.Token.Value
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "number " + x.GetToken().Value
	case *ast.BoolNode:
		return x.Token.Value
	case *ast.TagNode:
		return "tagged value " + x.Start.Value
	}
	return n.Type().YAMLName()
}

// nodePos returns where n starts in its file: a block mapping at its first key,
// anything else at its first token.
func nodePos(n ast.Node) (line, col int) {
	switch x := n.(type) {
	case nil:
		return 0, 0
	case *ast.MappingNode:
		if !x.IsFlowStyle && len(x.Values) > 0 {
			return nodePos(x.Values[0].Key)
		}
	case *ast.MappingValueNode:
		return nodePos(x.Key)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 0, 0
	}
	return tk.Position.Line, tk.Position.Column
}

// joinPath appends key, a dotted path or a "[i]" index, to path.
func joinPath(path, key string) string {
	switch {
	case key == "":
		return path
	case path == "", strings.HasPrefix(key, "["):
		return path + key
	}
	return path + "." + key
}

func indexPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// lookupNode follows key (a path like "a.b[2].c") from n as far as the file goes and
// returns the deepest node reached. Mapping keys may themselves contain dots; the
// longest key that matches wins.
func lookupNode(n ast.Node, key string) ast.Node {
	for key != "" {
		switch x := n.(type) {
		case *ast.MappingNode:
			var best *ast.MappingValueNode
			bestLen := -1
			for _, mv := range x.Values {
				k, ok := keyText(mv.Key)
				if !ok || len(k) <= bestLen || !strings.HasPrefix(key, k) {
					continue
				}
				if rest := key[len(k):]; rest == "" || rest[0] == '.' || rest[0] == '[' {
					best, bestLen = mv, len(k)
				}
			}
			if best == nil {
				return n
			}
			key = strings.TrimPrefix(key[bestLen:], ".")
			if best.Value == nil {
				return best.Key
			}
			n = best.Value
		case *ast.SequenceNode:
			if !strings.HasPrefix(key, "[") {
				return n
			}
			end := strings.IndexByte(key, ']')
			if end < 0 {
				return n
			}
			i, err := strconv.Atoi(key[1:end])
			if err != nil || i < 0 || i >= len(x.Values) {
				return n
			}
			n = x.Values[i]
			key = strings.TrimPrefix(key[end+1:], ".")
		default:
			return n
		}
	}
	return n
}

// emitYAML writes n as YAML in flow style (which is JSON with YAML scalars).
// Hand-written because goccy/go-yaml's encoder goes through Go values and so loses
// how a scalar was written (0x1F becomes 31, 1.10 becomes 1.1), which changes what a
// string option receives, and its node printer can emit plain strings that no
// longer parse (a value "a: b"). Here every string is a JSON-quoted string and every
// other scalar is written with its own text.
func emitYAML(b *bytes.Buffer, n ast.Node, indent string) error {
	switch x := n.(type) {
	case nil, *ast.NullNode:
		b.WriteString("null")
	case *ast.StringNode:
		writeQuoted(b, x.Value)
	case *ast.LiteralNode:
		writeQuoted(b, x.Value.Value)
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		b.WriteString(x.GetToken().Value)
	case *ast.TagNode:
		b.WriteString(x.Start.Value)
		b.WriteByte(' ')
		return emitYAML(b, x.Value, indent)
	case *ast.MappingNode:
		if len(x.Values) == 0 {
			b.WriteString("{}")
			return nil
		}
		b.WriteString("{\n")
		for i, mv := range x.Values {
			b.WriteString(indent + "  ")
			if err := emitYAML(b, mv.Key, indent+"  "); err != nil {
				return err
			}
			b.WriteString(": ")
			if err := emitYAML(b, mv.Value, indent+"  "); err != nil {
				return err
			}
			if i < len(x.Values)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "}")
	case *ast.MappingKeyNode:
		return emitYAML(b, x.Value, indent)
	case *ast.SequenceNode:
		if len(x.Values) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteString("[\n")
		for i, e := range x.Values {
			b.WriteString(indent + "  ")
			if err := emitYAML(b, e, indent+"  "); err != nil {
				return err
			}
			if i < len(x.Values)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "]")
	default:
		return fmt.Errorf("cannot encode a %s node", n.Type().YAMLName())
	}
	return nil
}

// writeQuoted writes s as a JSON string, which is also a YAML double-quoted scalar.
func writeQuoted(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always encodes
	b.Write(enc)
}

// parseDocument parses src, which must hold at most one YAML document, and resolves
// its anchors, aliases, merge keys and (when lookupEnv is not nil) environment
// references. It returns the document's body, nil for an empty document.
func parseDocument(file, path string, src []byte, lookupEnv func(string) (string, bool)) (ast.Node, ConfigErrors) {
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		return nil, ConfigErrors{syntaxError(file, src, err)}
	}
	var body ast.Node
	for i, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			line, col := nodePos(doc)
			if doc.Start != nil && doc.Start.Position != nil {
				line, col = doc.Start.Position.Line, doc.Start.Position.Column
			}
			return nil, ConfigErrors{{File: file, Line: line, Col: col, Path: path,
				Msg: fmt.Sprintf("found a second YAML document (document %d); want exactly one", i+1)}}
		}
		body = doc.Body
	}
	r := resolver{file: file, lookup: lookupEnv, anchors: map[string]ast.Node{}}
	body = r.resolve(body, path)
	if _, null := body.(*ast.NullNode); null {
		body = nil
	}
	return body, r.errs
}

// syntaxError turns a goccy/go-yaml parse error into a positioned ConfigError.
func syntaxError(file string, src []byte, err error) *ConfigError {
	e := &ConfigError{File: file, Msg: "invalid YAML: " + err.Error()}
	var ye yaml.Error
	if errors.As(err, &ye) {
		e.Msg = "invalid YAML: " + ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Col = tk.Position.Line, tk.Position.Column
			lines := bytes.Split(src, []byte("\n"))
			if e.Line <= len(lines) && bytes.Contains(lines[e.Line-1], []byte("${")) {
				e.Msg += ` (inside { } and [ ] a plain ${VAR} ends at its "}": quote it, or write the collection in block style)`
			}
		}
	}
	return e
}
