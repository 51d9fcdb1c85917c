package core_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/core"
)

// kinds has a field of every kind Decode handles.
type kinds struct {
	S     string              `yaml:"s"`
	I     int                 `yaml:"i"`
	I8    int8                `yaml:"i8"`
	U16   uint16              `yaml:"u16"`
	F     float64             `yaml:"f"`
	F32   float32             `yaml:"f32"`
	B     bool                `yaml:"b"`
	D     time.Duration       `yaml:"d"`
	T     time.Time           `yaml:"t"`
	List  []string            `yaml:"list"`
	Pair  [2]int              `yaml:"pair"`
	Map   map[string]int      `yaml:"map"`
	ByInt map[int]string      `yaml:"by_int"`
	Ptr   *testRetry          `yaml:"ptr"`
	Any   any                 `yaml:"any"`
	Level testLevel           `yaml:"level"`
	Cols  []testColumn        `yaml:"cols"`
	Sub   core.Config         `yaml:"sub"`
	Roll  selfDecoding        `yaml:"roll"`
	Inl   `yaml:",inline"`    // its fields are keys of kinds
	Skip  string              `yaml:"-"`
	Named map[string]testRoll `yaml:"named"`
}

type Inl struct {
	Extra string `yaml:"extra"`
}

// selfDecoding decodes itself through goccy/go-yaml's InterfaceUnmarshaler, like
// a type that accepts several shapes.
type selfDecoding struct {
	Rows int64 `yaml:"rows"`
}

func (s *selfDecoding) UnmarshalYAML(unmarshal func(any) error) error {
	var n int64
	if err := unmarshal(&n); err == nil {
		s.Rows = n
		return nil
	}
	type plain selfDecoding
	return unmarshal((*plain)(s))
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want kinds
	}{
		{"strings take any scalar's text", "s: 0x1F", kinds{S: "0x1F"}},
		{"string float text kept", "s: 1.10", kinds{S: "1.10"}},
		{"string bool text", "s: true", kinds{S: "true"}},
		{"block string", "s: |\n  a\n  b\n", kinds{S: "a\nb\n"}},
		{"ints", "i: -12\ni8: 127\nu16: 65535", kinds{I: -12, I8: 127, U16: 65535}},
		{"hex and octal", "i: 0x10\nu16: 0o17", kinds{I: 16, U16: 15}},
		{"integral float into int", "i: 3.0", kinds{I: 3}},
		{"floats", "f: 1.5\nf32: 2", kinds{F: 1.5, F32: 2}},
		{"bool", "b: true", kinds{B: true}},
		{"duration", "d: 1m30s", kinds{D: 90 * time.Second}},
		{"zero duration", "d: 0", kinds{D: 0}},
		{"date", "t: 2024-05-01", kinds{T: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)}},
		{"time", "t: 2024-05-01T10:00:00Z", kinds{T: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}},
		{"list", "list: [a, b]", kinds{List: []string{"a", "b"}}},
		{"empty list", "list: []", kinds{List: []string{}}},
		{"array", "pair: [1, 2]", kinds{Pair: [2]int{1, 2}}},
		{"map", "map: {a: 1, b: 2}", kinds{Map: map[string]int{"a": 1, "b": 2}}},
		{"int keys", "by_int: {1: one, 2: two}", kinds{ByInt: map[int]string{1: "one", 2: "two"}}},
		{"pointer", "ptr: {attempts: 2}", kinds{Ptr: &testRetry{Attempts: 2}}},
		{"any", "any: {a: [1, x]}", kinds{Any: map[string]any{"a": []any{uint64(1), "x"}}}},
		{"text unmarshaler", "level: warn", kinds{Level: 2}},
		{"list of structs", "cols: [{name: a, type: int64}]", kinds{Cols: []testColumn{{"a", "int64"}}}},
		{"self-decoding from int", "roll: 7", kinds{Roll: selfDecoding{Rows: 7}}},
		{"self-decoding from mapping", "roll: {rows: 8}", kinds{Roll: selfDecoding{Rows: 8}}},
		{"inline", "extra: x", kinds{Inl: Inl{Extra: "x"}}},
		{"map of structs", "named:\n  hourly: {every: 1h}", kinds{Named: map[string]testRoll{"hourly": {Every: time.Hour}}}},
		{"null leaves the zero value", "s: null\ni: ~\nlist:", kinds{}},
		{"anchors and aliases", "s: &x hello\nlist: [*x, *x]", kinds{S: "hello", List: []string{"hello", "hello"}}},
		{"merge keys", "named:\n  base: &b {rows: 1, every: 1s}\n  more:\n    <<: *b\n    rows: 2", kinds{Named: map[string]testRoll{"base": {1, time.Second}, "more": {2, time.Second}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := core.NewConfig("c.yaml", "sinks[0].config", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			var got kinds
			if err := c.Decode(&got); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			got.Sub = core.Config{}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown key", "s: a\nsz: b", []string{"c.yaml:2:1: cfg.sz: unknown key (known keys: s, i, i8, u16, f, f32, b, d, t, list, pair, map, by_int, ptr, any, level, cols, sub, roll, extra, named)"}},
		{"skipped field is unknown", "skip: x", []string{"c.yaml:1:1: cfg.skip: unknown key (known keys: s, i, i8, u16, f, f32, b, d, t, list, pair, map, by_int, ptr, any, level, cols, sub, roll, extra, named)"}},
		{"not a mapping", "[1]", []string{"c.yaml:1:1: cfg: want a mapping with keys s, i, i8, u16, f, f32, b, d, t, list, pair, map, by_int, ptr, any, level, cols, sub, roll, extra, named, got a list"}},
		{"string from a list", "s: [a]", []string{"c.yaml:1:4: cfg.s: want a string, got a list"}},
		{"int from a string", "i: ten", []string{`c.yaml:1:4: cfg.i: want an integer, got string "ten"`}},
		{"int from a quoted number", `i: "10"`, []string{`c.yaml:1:4: cfg.i: want an integer, got string "10"`}},
		{"int from a fraction", "i: 1.5", []string{"c.yaml:1:4: cfg.i: want an integer, got number 1.5"}},
		{"int8 overflow", "i8: 128", []string{"c.yaml:1:5: cfg.i8: must be between -128 and 127, got 128"}},
		{"int overflow", "i: 9223372036854775808", []string{"c.yaml:1:4: cfg.i: must be between -9223372036854775808 and 9223372036854775807, got 9223372036854775808"}},
		{"uint negative", "u16: -1", []string{"c.yaml:1:6: cfg.u16: must be between 0 and 65535, got -1"}},
		{"uint overflow", "u16: 65536", []string{"c.yaml:1:6: cfg.u16: must be between 0 and 65535, got 65536"}},
		{"float from a bool", "f: true", []string{"c.yaml:1:4: cfg.f: want a number, got true"}},
		{"float32 overflow", "f32: 1e40", []string{`c.yaml:1:6: cfg.f32: want a number, got string "1e40"`}},
		{"float32 too large", "f32: 1.0e+40", []string{"c.yaml:1:6: cfg.f32: 1.0e+40 is too large for a 32-bit float"}},
		{"bool from a word", "b: yes", []string{`c.yaml:1:4: cfg.b: want true or false, got string "yes"`}},
		{"bad duration", "d: 10", []string{`c.yaml:1:4: cfg.d: invalid duration "10" (want a Go duration like 30s, 5m or 1h30m)`}},
		{"duration from a list", "d: [1s]", []string{"c.yaml:1:4: cfg.d: want a duration like 30s or 1m30s, got a list"}},
		{"list from a scalar", "list: a", []string{`c.yaml:1:7: cfg.list: want a list, got string "a"`}},
		{"array length", "pair: [1]", []string{"c.yaml:1:7: cfg.pair: want a list of 2, got 1"}},
		{"map from a list", "map: [1]", []string{"c.yaml:1:6: cfg.map: want a mapping, got a list"}},
		{"map value", "map: {a: x}", []string{`c.yaml:1:10: cfg.map.a: want an integer, got string "x"`}},
		{"map key", "by_int: {one: x}", []string{`c.yaml:1:10: cfg.by_int.one: want an integer, got string "one"`}},
		{"text unmarshaler", "level: loud", []string{`c.yaml:1:8: cfg.level: unknown level "loud" (want one of: debug, info, warn)`}},
		{"text unmarshaler from a mapping", "level: {a: 1}", []string{"c.yaml:1:8: cfg.level: want a scalar, got a mapping"}},
		{"list element", "cols:\n  - {name: a, type: int64}\n  - {name: b, tpye: x}", []string{"c.yaml:3:15: cfg.cols[1].tpye: unknown key (known keys: name, type)"}},
		{"pointer", "ptr: {attempts: x}", []string{`c.yaml:1:17: cfg.ptr.attempts: want an integer, got string "x"`}},
		{"self-decoding unknown key", "roll:\n  rows: 1\n  size: 2", []string{`c.yaml:3:3: cfg.roll: unknown field "size"`}},
		{"time", "t: tomorrow", []string{`c.yaml:1:4: cfg.t: invalid timestamp "tomorrow" (want RFC 3339 like 2024-05-01T10:00:00Z, or a date like 2024-05-01)`}},
		{"every problem at once", "s: [a]\ni: x\nnope: 1\ncols: [{name: a, bad: 1}]\nd: 5", []string{
			"c.yaml:1:4: cfg.s: want a string, got a list",
			`c.yaml:2:4: cfg.i: want an integer, got string "x"`,
			"c.yaml:3:1: cfg.nope: unknown key (known keys: s, i, i8, u16, f, f32, b, d, t, list, pair, map, by_int, ptr, any, level, cols, sub, roll, extra, named)",
			"c.yaml:4:18: cfg.cols[0].bad: unknown key (known keys: name, type)",
			`c.yaml:5:4: cfg.d: invalid duration "5" (want a Go duration like 30s, 5m or 1h30m)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := core.NewConfig("c.yaml", "cfg", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			var v kinds
			err = c.Decode(&v)
			var errs core.ConfigErrors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v (%T), want core.ConfigErrors", err, err)
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tt.want) {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

func TestDecodeKeepsDefaults(t *testing.T) {
	c, err := core.NewConfig("c.yaml", "cfg", []byte("compression: gzip\nfields:\n  b: {unit: m}\nroll:\n  every: 1m\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := testSinkOptions{
		Path:        "./default",
		Compression: "zstd",
		Roll:        testRoll{Rows: 10},
		Fields:      map[string]testField{"a": {From: "x"}, "b": {From: "y"}},
	}
	if err := c.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := testSinkOptions{
		Path:        "./default",
		Compression: "gzip",
		Roll:        testRoll{Rows: 10, Every: time.Minute},
		Fields:      map[string]testField{"a": {From: "x"}, "b": {From: "y", Unit: "m"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestDecodeNeedsPointer(t *testing.T) {
	c, err := core.NewConfig("c.yaml", "cfg", []byte("a: 1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{testRoll{}, (*testRoll)(nil), nil} {
		err := c.Decode(v)
		if err == nil || !strings.HasPrefix(err.Error(), "core: Config.Decode needs a non-nil pointer") {
			t.Errorf("Decode(%T): got %v, want a non-nil pointer error", v, err)
		}
	}
}

func TestDecodeSubConfig(t *testing.T) {
	c, err := core.NewConfig("c.yaml", "source.config", []byte("sub:\n  nested:\n    x: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	var v kinds
	if err := c.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if got, want := v.Sub.Path(), "source.config.sub"; got != want {
		t.Errorf("got path %q, want %q", got, want)
	}
	if got, want := v.Sub.Errorf("nested.x", "bad").Error(), "c.yaml:3:8: source.config.sub.nested.x: bad"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestErrorf(t *testing.T) {
	src := `path: ./out
compression: zstdd
roll:
  rows: 10
columns:
  - {name: a, type: int64}
  - name: b
    type: decimal
dictionary_columns:
  position.lat: true
  position: false
`
	c, err := core.NewConfig("p.yaml", "sinks[0].config", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key  string
		want string
	}{
		{"compression", "p.yaml:2:14: sinks[0].config.compression: msg"},
		{"roll.rows", "p.yaml:4:9: sinks[0].config.roll.rows: msg"},
		{"roll.every", "p.yaml:4:3: sinks[0].config.roll.every: msg"},
		{"roll", "p.yaml:4:3: sinks[0].config.roll: msg"},
		{"columns[0].type", "p.yaml:6:21: sinks[0].config.columns[0].type: msg"},
		{"columns[1].type", "p.yaml:8:11: sinks[0].config.columns[1].type: msg"},
		{"columns[1]", "p.yaml:7:5: sinks[0].config.columns[1]: msg"},
		{"columns[7].type", "p.yaml:6:3: sinks[0].config.columns[7].type: msg"},
		{"dictionary_columns.position.lat", "p.yaml:10:17: sinks[0].config.dictionary_columns.position.lat: msg"},
		{"dictionary_columns.position", "p.yaml:11:13: sinks[0].config.dictionary_columns.position: msg"},
		{"missing", "p.yaml:1:1: sinks[0].config.missing: msg"},
		{"", "p.yaml:1:1: sinks[0].config: msg"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := c.Errorf(tt.key, "msg").Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	var zero core.Config
	if got, want := zero.Errorf("path", "missing").Error(), "path: missing"; got != want {
		t.Errorf("zero Config: got %q, want %q", got, want)
	}
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		zero     bool
		line     int
		col      int
		wantErrs string
	}{
		{name: "mapping", src: "a: 1", line: 1, col: 1},
		{name: "indented block", src: "\n\n    a: 1\n    b: 2\n", line: 3, col: 5},
		{name: "flow", src: "  {a: 1}", line: 1, col: 3},
		{name: "empty", src: "", zero: true, line: 1, col: 1},
		{name: "comments", src: "# nothing\n", zero: true, line: 1, col: 1},
		{name: "null", src: "null\n", zero: true, line: 1, col: 1},
		{name: "syntax", src: "a: [1\n", wantErrs: "c.yaml:1:4: invalid YAML: sequence end token ']' not found"},
		{name: "two documents", src: "a: 1\n---\nb: 2\n", wantErrs: "c.yaml:2:1: cfg: found a second YAML document (document 2); want exactly one"},
		{name: "no interpolation", src: "a: ${NOT_SUBSTITUTED}", line: 1, col: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := core.NewConfig("c.yaml", "cfg", []byte(tt.src))
			if tt.wantErrs != "" {
				if err == nil || err.Error() != tt.wantErrs {
					t.Errorf("got error %v, want %s", err, tt.wantErrs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.IsZero(); got != tt.zero {
				t.Errorf("got IsZero %v, want %v", got, tt.zero)
			}
			file, line, col := c.Position()
			if file != "c.yaml" || line != tt.line || col != tt.col {
				t.Errorf("got position %s:%d:%d, want c.yaml:%d:%d", file, line, col, tt.line, tt.col)
			}
		})
	}
}

func TestConfigYAML(t *testing.T) {
	src := `s: "a: b # c"
i: 0x1F
f: 1.10
b: True
n: ~
lit: |
  line "one"
  line two
list: [1, two, 3.0]
map: {k: v, empty: {}}
empty: []
tagged: !!str 12
unicode: "é\t\u0001"
`
	c, err := core.NewConfig("c.yaml", "cfg", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "s": "a: b # c",
  "i": 0x1F,
  "f": 1.10,
  "b": True,
  "n": null,
  "lit": "line \"one\"\nline two\n",
  "list": [
    1,
    "two",
    3.0
  ],
  "map": {
    "k": "v",
    "empty": {}
  },
  "empty": [],
  "tagged": !!str 12,
  "unicode": "é\t\u0001"
}
`
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Read back, the section decodes to the same values.
	back, err := core.NewConfig("plugin", "cfg", got)
	if err != nil {
		t.Fatalf("NewConfig(YAML()): %v\n%s", err, got)
	}
	var a, b map[string]any
	if err := c.Decode(&a); err != nil {
		t.Fatal(err)
	}
	if err := back.Decode(&b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("decoded after YAML(): got %v, want %v", b, a)
	}
	var zero core.Config
	if y, err := zero.YAML(); y != nil || err != nil {
		t.Errorf("absent section: got %q, %v, want nil, nil", y, err)
	}
}

// TestConfigYAMLInterpolated checks that an external plugin gets the substituted
// values with their types, and that $$ is not substituted twice.
func TestConfigYAMLInterpolated(t *testing.T) {
	src := "version: 1\nname: ext\nsource: {plugin: test-src}\nsinks:\n  - plugin: external:./bin/sink\n    config:\n      n: ${N}\n      s: '${COLON}'\n      cost: $${N}\n"
	p, err := core.ParsePipeline("ext.yaml", []byte(src), lookupTestEnv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Sinks[0].Config.YAML()
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"n\": 8,\n  \"s\": \"a: b # not a comment\",\n  \"cost\": \"${N}\"\n}\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	back, err := core.NewConfig("plugin", "sinks[0].config", got)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		N    int    `yaml:"n"`
		S    string `yaml:"s"`
		Cost string `yaml:"cost"`
	}
	if err := back.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if v.N != 8 || v.S != "a: b # not a comment" || v.Cost != "${N}" {
		t.Errorf("got %+v, want {N:8 S:a: b # not a comment Cost:${N}}", v)
	}
}

func TestConfigErrorsAdd(t *testing.T) {
	var errs core.ConfigErrors
	errs.Add(nil)
	errs.Add((*core.ConfigError)(nil))
	if errs.Err() != nil {
		t.Fatalf("got %v, want no errors", errs.Err())
	}
	errs.Add(&core.ConfigError{File: "b.yaml", Line: 1, Col: 1, Msg: "b1"})
	errs.Add(fmt.Errorf("wrapped: %w", core.ConfigErrors{
		{File: "a.yaml", Line: 9, Col: 1, Msg: "a9"},
		{File: "a.yaml", Line: 2, Col: 5, Msg: "a2c5"},
	}))
	errs.Add(&core.ConfigError{File: "a.yaml", Line: 2, Col: 1, Path: "x", Msg: "a2c1"})
	errs.Add(errors.New("plain"))
	want := "plain\na.yaml:2:1: x: a2c1\na.yaml:2:5: a2c5\na.yaml:9:1: a9\nb.yaml:1:1: b1"
	if got := errs.Err().Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got, want := len(errs), 5; got != want {
		t.Errorf("got %d errors, want %d", got, want)
	}
}

func TestConfigErrorFormat(t *testing.T) {
	tests := []struct {
		e    core.ConfigError
		want string
	}{
		{core.ConfigError{File: "x.yaml", Line: 3, Col: 1, Path: "concurrency", Msg: "m"}, "x.yaml:3:1: concurrency: m"},
		{core.ConfigError{File: "x.yaml", Path: "p", Msg: "m"}, "x.yaml: p: m"},
		{core.ConfigError{Line: 2, Col: 4, Msg: "m"}, "2:4: m"},
		{core.ConfigError{Msg: "m"}, "m"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// A factory decodes its section on top of its defaults, checks the values, and
// reports every problem at once, each pointing into the pipeline file.
func ExampleConfig_Decode() {
	src := []byte("path: ./lake\ncompression: zstdd\nroll: {rows: -5}\n")
	c, _ := core.NewConfig("pipelines/x.yaml", "sinks[0].config", src)

	cfg := struct {
		Path        string `yaml:"path" doc:"where to write"`
		Compression string `yaml:"compression" doc:"none, snappy, zstd or gzip" default:"zstd"`
		Roll        struct {
			Rows int64 `yaml:"rows" doc:"rows per file"`
		} `yaml:"roll"`
	}{Compression: "zstd"}

	var errs core.ConfigErrors
	errs.Add(c.Decode(&cfg))
	if !slices.Contains([]string{"none", "snappy", "zstd", "gzip"}, cfg.Compression) {
		errs.Add(c.Errorf("compression", "unknown value %q (want one of: none, snappy, zstd, gzip)", cfg.Compression))
	}
	if cfg.Roll.Rows < 0 {
		errs.Add(c.Errorf("roll.rows", "must not be negative, got %d", cfg.Roll.Rows))
	}
	fmt.Println(errs.Err())
	// Output:
	// pipelines/x.yaml:2:14: sinks[0].config.compression: unknown value "zstdd" (want one of: none, snappy, zstd, gzip)
	// pipelines/x.yaml:3:14: sinks[0].config.roll.rows: must not be negative, got -5
}
