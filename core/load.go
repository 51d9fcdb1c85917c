package core

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Limits and defaults of a pipeline file.
const (
	DefaultState       = ".etl-state"
	DefaultConcurrency = 4
	MaxConcurrency     = 1024
	DefaultCommitEvery = time.Minute
	MinCommitEvery     = time.Second
	// MinTick and MaxTick bound a pipeline file's tick (see Pipeline.Tick).
	MinTick = time.Millisecond
	MaxTick = time.Minute
	// ExternalPrefix starts the plugin name of an external plugin: "external:PATH".
	ExternalPrefix = "external:"
)

// validName is what a pipeline name may look like; it names state keys and files.
var validName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// pipelineFile is the shape of a pipeline file (version 1). Pointers tell an
// absent key from a zero value.
type pipelineFile struct {
	Version     *int              `yaml:"version"`
	Name        *string           `yaml:"name"`
	State       *string           `yaml:"state"`
	Concurrency *int              `yaml:"concurrency"`
	Tick        *time.Duration    `yaml:"tick"`
	Commit      commitSection     `yaml:"commit"`
	DeadLetter  deadLetterSection `yaml:"dead_letter"`
	Source      *componentSection `yaml:"source"`
	Transforms  []componentSection
	Sinks       []componentSection
}

type commitSection struct {
	Interval *time.Duration `yaml:"interval"`
	Rows     int64          `yaml:"rows"`
}

type deadLetterSection struct {
	Path *string `yaml:"path"`
}

type componentSection struct {
	Plugin *string `yaml:"plugin"`
	Config Config  `yaml:"config"`
}

// LoadPipeline reads and parses the pipeline file at path, substituting environment
// references from the process environment. See ParsePipeline.
func LoadPipeline(file string) (*Pipeline, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("core: load pipeline: %w", err)
	}
	return ParsePipeline(file, src, os.LookupEnv)
}

// ParsePipeline parses src, the text of pipeline file file (used in error messages
// and as Pipeline.File), checks it and applies defaults. lookupEnv (os.LookupEnv,
// or a map's lookup in tests; nil: no variable is set) resolves the environment references in string
// scalars: ${VAR}, ${VAR:-default} (default when VAR is unset or empty) and $$ for a
// literal $. A plain (unquoted) scalar is typed after substitution, so
// `concurrency: ${N}` is an integer when N is; a quoted one stays a string; a plain
// one that becomes empty is null, which leaves the option's default.
//
// Every problem of the file is reported at once, as ConfigErrors sorted by position:
// YAML syntax, unknown keys, values of the wrong kind or out of range, unset
// variables, unknown plugin names, and, for registered plugins with Options, the
// structure of their config sections (unknown keys and kinds; checks of values are
// the factories' when they build the components). The pipeline is nil when there
// is any problem.
func ParsePipeline(file string, src []byte, lookupEnv func(string) (string, bool)) (*Pipeline, error) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	root, errs := parseDocument(file, "", src, lookupEnv)
	if root == nil {
		if len(errs) > 0 {
			return nil, errs.Err()
		}
		errs = append(errs, &ConfigError{File: file, Line: 1, Col: 1,
			Msg: "empty pipeline file (want version, name, source and sinks)"})
		return nil, errs.Err()
	}
	v := validator{file: file, root: root}
	v.errs = errs
	var pf pipelineFile
	d := decoder{file: file}
	d.decode(root, reflect.ValueOf(&pf).Elem(), "")
	v.errs = append(v.errs, d.errs...)
	if _, isMap := root.(*ast.MappingNode); !isMap {
		return nil, v.errs.Err()
	}
	p := v.pipeline(&pf)
	p.File = file
	if err := v.errs.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// validator checks a decoded pipeline file, adding a ConfigError per problem.
type validator struct {
	file string
	root ast.Node
	errs ConfigErrors
}

// errorf records a problem at path: at its value if the file has it, else at the
// nearest part of the file that is there.
func (v *validator) errorf(path, format string, args ...any) {
	line, col := nodePos(lookupNode(v.root, path))
	v.errs = append(v.errs, &ConfigError{File: v.file, Line: line, Col: col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// failed reports whether a problem was already found at path or inside it, so
// that a value that did not decode is not also reported as missing or out of range.
func (v *validator) failed(path string) bool {
	for _, e := range v.errs {
		if e.Path == path || strings.HasPrefix(e.Path, path+".") || strings.HasPrefix(e.Path, path+"[") {
			return true
		}
	}
	return false
}

// failedAt reports whether a problem was already found at path itself.
func (v *validator) failedAt(path string) bool {
	return slices.ContainsFunc(v.errs, func(e *ConfigError) bool { return e.Path == path })
}

func (v *validator) pipeline(pf *pipelineFile) *Pipeline {
	p := &Pipeline{
		Version:     1,
		State:       DefaultState,
		Concurrency: DefaultConcurrency,
		Commit:      CommitPolicy{Interval: DefaultCommitEvery, Rows: pf.Commit.Rows},
	}
	switch {
	case v.failed("version"):
	case pf.Version == nil:
		v.errorf("version", "missing (want version: 1)")
	case *pf.Version != 1:
		v.errorf("version", "unsupported version %d (want 1)", *pf.Version)
	}
	switch {
	case v.failed("name"):
	case pf.Name == nil:
		v.errorf("name", "missing (a name is required: it names the state keys and files)")
	case !validName.MatchString(*pf.Name):
		v.errorf("name", "invalid name %q (want letters, digits, '.', '_' and '-' only)", *pf.Name)
	default:
		p.Name = *pf.Name
	}
	if pf.State != nil && !v.failed("state") {
		if *pf.State == "" {
			v.errorf("state", "must not be empty (leave it out for the default %q)", DefaultState)
		}
		p.State = *pf.State
		if scheme, _, ok := strings.Cut(p.State, "://"); ok && !IsStateURL(p.State) {
			v.errorf("state", "unsupported state URL scheme %q (want a directory, or nats://HOST:PORT for the JetStream store of a cluster)", scheme)
		}
	}
	if pf.Concurrency != nil && !v.failed("concurrency") {
		if c := *pf.Concurrency; c < 1 || c > MaxConcurrency {
			v.errorf("concurrency", "must be between 1 and %d, got %d", MaxConcurrency, c)
		}
		p.Concurrency = *pf.Concurrency
	}
	if iv := pf.Commit.Interval; iv != nil && !v.failed("commit.interval") {
		if *iv < MinCommitEvery {
			v.errorf("commit.interval", "must be at least %s, got %s", MinCommitEvery, *iv)
		}
		p.Commit.Interval = *iv
	}
	if pf.Tick != nil && !v.failed("tick") {
		if t := *pf.Tick; t < MinTick || t > MaxTick {
			v.errorf("tick", "must be between %s and %s, got %s", MinTick, MaxTick, t)
		}
		p.Tick = *pf.Tick
	}
	if pf.Commit.Rows < 0 {
		v.errorf("commit.rows", "must not be negative, got %d", pf.Commit.Rows)
	}
	p.DeadLetter = filepath.Join(p.State, p.Name+".deadletter.jsonl")
	if IsStateURL(p.State) {
		// State on a server: rejected rows still go to a local file.
		p.DeadLetter = filepath.Join(DefaultState, p.Name+".deadletter.jsonl")
	}
	if dl := pf.DeadLetter.Path; dl != nil && !v.failed("dead_letter.path") {
		if *dl == "" {
			v.errorf("dead_letter.path", "must not be empty (leave it out for the default STATE/NAME.deadletter.jsonl)")
		}
		p.DeadLetter = *dl
	}

	switch {
	case v.failedAt("source"):
	case pf.Source == nil:
		v.errorf("source", "missing (a source is required)")
	default:
		p.Source = v.component("source", "source", *pf.Source, Sources(), func(name string) any {
			f, ok := LookupSource(name)
			return options(f.Options, ok)
		})
	}
	for i, t := range pf.Transforms {
		p.Transforms = append(p.Transforms, v.component(indexPath("transforms", i), "transform", t, Transforms(), func(name string) any {
			f, ok := LookupTransform(name)
			return options(f.Options, ok)
		}))
	}
	switch {
	case v.failedAt("sinks"):
	case pf.Sinks == nil:
		v.errorf("sinks", "missing (at least one sink is required)")
	case len(pf.Sinks) == 0:
		v.errorf("sinks", "empty (at least one sink is required)")
	}
	for i, s := range pf.Sinks {
		p.Sinks = append(p.Sinks, v.component(indexPath("sinks", i), "sink", s, Sinks(), func(name string) any {
			f, ok := LookupSink(name)
			return options(f.Options, ok)
		}))
	}
	return p
}

// options returns a registered factory's Options, or a marker for an unknown name.
func options(opts any, registered bool) any {
	if !registered {
		return unknownPlugin{}
	}
	return opts
}

type unknownPlugin struct{}

// component checks one plugin entry; lookup returns the plugin's Options (nil if it
// has none) or unknownPlugin{}.
func (v *validator) component(path, kind string, cf componentSection, registered []string, lookup func(string) any) Component {
	c := Component{Path: path, Config: cf.Config}
	c.Config.file, c.Config.path = v.file, path+".config"
	if cf.Config.node == nil {
		c.Config.line, c.Config.col = nodePos(lookupNode(v.root, path))
	}
	if cf.Plugin == nil {
		v.errorf(path+".plugin", "missing (want %s)", wantPlugin(kind, registered))
		return c
	}
	c.Plugin = *cf.Plugin
	if ext, ok := strings.CutPrefix(c.Plugin, ExternalPrefix); ok {
		if ext == "" {
			v.errorf(path+".plugin", "%q needs the plugin's executable, e.g. %s./bin/my-%s", c.Plugin, ExternalPrefix, kind)
		}
		return c
	}
	opts := lookup(c.Plugin)
	if _, unknown := opts.(unknownPlugin); unknown {
		v.errorf(path+".plugin", "unknown %s %q (want %s)", kind, c.Plugin, wantPlugin(kind, registered))
		return c
	}
	if opts != nil && !c.Config.IsZero() {
		t := reflect.TypeOf(opts)
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		v.errs.Add(c.Config.Decode(reflect.New(t).Interface()))
	}
	return c
}

func wantPlugin(kind string, registered []string) string {
	if len(registered) == 0 {
		return fmt.Sprintf("%sPATH; no %ss are registered", ExternalPrefix, kind)
	}
	return fmt.Sprintf("one of: %s, or %sPATH", strings.Join(registered, ", "), ExternalPrefix)
}

// resolver prepares a parsed document for decoding, in document order: it replaces
// anchors by their values and aliases by the values they name, expands merge keys
// (<<) and substitutes environment references in string scalars, keeping every
// node's position in the file.
type resolver struct {
	file    string
	lookup  func(string) (string, bool) // nil: no substitution
	anchors map[string]ast.Node
	errs    ConfigErrors
}

func (r *resolver) errorf(n ast.Node, path, format string, args ...any) {
	line, col := nodePos(n)
	r.errs = append(r.errs, &ConfigError{File: r.file, Line: line, Col: col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (r *resolver) resolve(n ast.Node, path string) ast.Node {
	switch x := n.(type) {
	case *ast.AnchorNode:
		val := r.resolve(x.Value, path)
		if val == nil {
			val = ast.Null(token.New("null", "", x.Start.Position))
		}
		r.anchors[x.Name.GetToken().Value] = val
		return val
	case *ast.AliasNode:
		name := x.Value.GetToken().Value
		if val, ok := r.anchors[name]; ok {
			return val
		}
		r.errorf(x, path, "alias *%s names no anchor &%s before it", name, name)
		return ast.Null(token.New("null", "", x.Start.Position))
	case *ast.TagNode:
		x.Value = r.resolve(x.Value, path)
	case *ast.SequenceNode:
		for i, e := range x.Values {
			x.Values[i] = r.resolve(e, indexPath(path, i))
		}
	case *ast.MappingNode:
		r.mapping(x, path)
	case *ast.StringNode:
		return r.str(x, path)
	case *ast.LiteralNode:
		s, changed := r.expand(x, x.Value.Value, path)
		if !changed {
			return x
		}
		tk := *x.Start
		tk.Type, tk.Value, tk.Origin = token.DoubleQuoteType, s, s
		return ast.String(&tk)
	}
	return n
}

func (r *resolver) mapping(m *ast.MappingNode, path string) {
	merges := false
	for _, mv := range m.Values {
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			merges = true
			mv.Value = r.resolve(mv.Value, path)
			continue
		}
		if s, ok := mv.Key.(*ast.StringNode); ok {
			if k, ok := r.str(s, path).(ast.MapKeyNode); ok {
				mv.Key = k
			}
		}
		key, _ := keyText(mv.Key)
		mv.Value = r.resolve(mv.Value, joinPath(path, key))
	}
	if !merges {
		return
	}
	// Explicit keys win over merged ones, and earlier merged mappings over later ones.
	seen := map[string]bool{}
	for _, mv := range m.Values {
		if _, ok := mv.Key.(*ast.MergeKeyNode); !ok {
			k, _ := keyText(mv.Key)
			seen[k] = true
		}
	}
	var out []*ast.MappingValueNode
	for _, mv := range m.Values {
		if _, ok := mv.Key.(*ast.MergeKeyNode); !ok {
			out = append(out, mv)
			continue
		}
		var sources []ast.Node
		switch x := mv.Value.(type) {
		case *ast.MappingNode:
			sources = []ast.Node{x}
		case *ast.SequenceNode:
			sources = x.Values
		default:
			r.errorf(mv.Value, path, "<< merges a mapping or a list of mappings, got %s", describe(mv.Value))
			continue
		}
		for _, src := range sources {
			sm, ok := src.(*ast.MappingNode)
			if !ok {
				r.errorf(src, path, "<< merges a mapping or a list of mappings, got %s", describe(src))
				continue
			}
			for _, smv := range sm.Values {
				k, _ := keyText(smv.Key)
				if !seen[k] {
					seen[k] = true
					out = append(out, smv)
				}
			}
		}
	}
	m.Values = out
}

// str substitutes environment references in a string scalar and, when the scalar is
// plain, gives the result the type YAML would give the same text in the file.
func (r *resolver) str(x *ast.StringNode, path string) ast.Node {
	s, changed := r.expand(x, x.Value, path)
	if !changed {
		return x
	}
	if x.Token.Type != token.StringType { // quoted: stays a string
		tk := *x.Token
		tk.Value, tk.Origin = s, s
		return ast.String(&tk)
	}
	if s == "" {
		return ast.Null(token.New("null", "", x.Token.Position))
	}
	tk := token.New(s, s, x.Token.Position)
	switch tk.Type {
	case token.NullType, token.ImplicitNullType:
		return ast.Null(tk)
	case token.BoolType:
		return ast.Bool(tk)
	case token.IntegerType, token.BinaryIntegerType, token.OctetIntegerType, token.HexIntegerType:
		return ast.Integer(tk)
	case token.FloatType:
		return ast.Float(tk)
	case token.InfinityType:
		return ast.Infinity(tk)
	case token.NanType:
		return ast.Nan(tk)
	}
	tk.Type = token.StringType
	return ast.String(tk)
}

// expand substitutes ${VAR}, ${VAR:-default} and $$ in s (the text of scalar n at
// path) and reports whether anything was substituted. Defaults may hold references
// themselves, expanded only when used. A lone $ not followed by { or $ is kept.
// Problems are recorded at n.
func (r *resolver) expand(n ast.Node, s, path string) (string, bool) {
	if r.lookup == nil || !strings.Contains(s, "$") {
		return s, false
	}
	var x expansion
	x.lookup = r.lookup
	out, _, err := x.until(s, false)
	if err == nil && len(x.unset) > 0 {
		err = x.unsetError()
	}
	if err != nil {
		r.errorf(n, path, "%v", err)
		return s, false
	}
	return out, x.changed
}

// expansion is the state of expanding one scalar.
type expansion struct {
	lookup  func(string) (string, bool)
	changed bool
	unset   []string // variables used without a default and not set
}

const refSyntax = "want ${VAR}, ${VAR:-default} or $$ for a literal $"

// until expands s up to its end or, when inBrace, up to the "}" that closes a
// default, and returns the text after that "}".
func (x *expansion) until(s string, inBrace bool) (out, rest string, err error) {
	var b strings.Builder
	for len(s) > 0 {
		c := s[0]
		switch {
		case inBrace && c == '}':
			return b.String(), s[1:], nil
		case c != '$' || len(s) == 1:
			b.WriteByte(c)
			s = s[1:]
		case s[1] == '$':
			b.WriteByte('$')
			s, x.changed = s[2:], true
		case s[1] == '{':
			val, after, err := x.reference(s[2:])
			if err != nil {
				return "", "", err
			}
			b.WriteString(val)
			s, x.changed = after, true
		default:
			b.WriteByte(c)
			s = s[1:]
		}
	}
	if inBrace {
		return "", "", fmt.Errorf(`unterminated "${" (%s)`, refSyntax)
	}
	return b.String(), "", nil
}

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`)

// reference expands the inside of a ${...}; s starts right after the "${".
func (x *expansion) reference(s string) (val, rest string, err error) {
	name := varName.FindString(s)
	after := s[len(name):]
	switch {
	case name == "" && strings.HasPrefix(s, "}"):
		return "", "", fmt.Errorf(`empty "${}" (%s)`, refSyntax)
	case name == "":
		return "", "", fmt.Errorf(`invalid variable name after "${" (want letters, digits and _, not starting with a digit)`)
	case strings.HasPrefix(after, "}"):
		if v, ok := x.lookup(name); ok {
			return v, after[1:], nil
		}
		x.unset = append(x.unset, name)
		return "", after[1:], nil
	case strings.HasPrefix(after, ":-"):
		unset := len(x.unset)
		def, rest, err := x.until(after[2:], true)
		if err != nil {
			return "", "", err
		}
		if v, ok := x.lookup(name); ok && v != "" {
			x.unset = x.unset[:unset] // the default is not used
			return v, rest, nil
		}
		return def, rest, nil
	case after == "":
		return "", "", fmt.Errorf(`unterminated "${%s" (%s)`, name, refSyntax)
	}
	return "", "", fmt.Errorf(`invalid reference "${%s%c..." (%s)`, name, after[0], refSyntax)
}

func (x *expansion) unsetError() error {
	if len(x.unset) == 1 {
		name := x.unset[0]
		return fmt.Errorf("environment variable %s is not set (set it, or give a default: ${%s:-default})", name, name)
	}
	return fmt.Errorf("environment variables %s are not set (set them, or give defaults: ${VAR:-default})", strings.Join(x.unset, ", "))
}

// IsStateURL reports whether a pipeline's state names a NATS server (the
// JetStream key-value store of package cluster: nats://, tls:// or several
// comma-separated URLs) rather than a local directory.
func IsStateURL(state string) bool {
	return strings.HasPrefix(state, "nats://") || strings.HasPrefix(state, "tls://")
}
