package parquet

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sinks/files"
)

// decodeConfig decodes a config section as a pipeline's factory does, on top
// of the defaults.
func decodeConfig(t *testing.T, src string) (Config, error) {
	t.Helper()
	c, err := core.NewConfig("pipeline.yaml", "sinks[0].config", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	err = c.Decode(&cfg)
	return cfg, err
}

func TestConfigDecode(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want func(c *Config)
	}{
		{"defaults", "path: ./lake", func(c *Config) { c.Path = "./lake" }},
		{"everything", `
path: /data/lake
partition_by: [unit, date]
roll: {rows: 1000000, bytes: 128MiB, interval: 5m}
compression: gzip
compression_level: 9
row_group_rows: 65536
row_group_bytes: 32MiB
page_bytes: 256KiB
dictionary: false
dictionary_columns: {user_id: true, pos.lat: false}
integer_encoding: delta
float_encoding: byte_stream_split
`, func(c *Config) {
			c.Path = "/data/lake"
			c.PartitionBy = []string{"unit", "date"}
			c.Roll = files.Roll{Rows: 1000000, Bytes: 128 << 20, Interval: 5 * time.Minute}
			c.Compression, c.CompressionLevel = "gzip", 9
			c.RowGroupRows, c.RowGroupBytes, c.PageBytes = 65536, 32<<20, 256<<10
			c.Dictionary = false
			c.DictionaryColumns = map[string]bool{"user_id": true, "pos.lat": false}
			c.IntegerEncoding = "delta"
			c.FloatEncoding = "byte_stream_split"
		}},
		{"sizes as numbers and SI units", "path: x\nrow_group_bytes: 1GB\npage_bytes: 65536", func(c *Config) {
			c.Path, c.RowGroupBytes, c.PageBytes = "x", 1_000_000_000, 65536
		}},
		{"no partitions", "path: x\npartition_by: []", func(c *Config) {
			c.Path, c.PartitionBy = "x", []string{}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeConfig(t, tc.src)
			if err != nil {
				t.Fatal(err)
			}
			want := DefaultConfig()
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestConfigDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		src, want string
	}{
		{"path: x\ncompresion: zstd", "compresion"},
		{"path: x\nrow_group_bytes: lots", `invalid size "lots"`},
		{"path: x\nroll: {rowz: 1}", "rowz"},
		{"path: x\ndictionary: maybe", "dictionary"},
	} {
		_, err := decodeConfig(t, tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error mentioning %q", tc.src, err, tc.want)
		}
	}
}

func TestConfigProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want []string // "option: message" substrings, all of them, in order
	}{
		{"valid", func(c *Config) {}, nil},
		{"every option wrong at once", func(c *Config) {
			c.Compression = "zstdd"
			c.RowGroupRows = 0
			c.RowGroupBytes = 10
			c.PageBytes = 2 << 30
			c.DictionaryColumns = map[string]bool{"a..b": true}
			c.IntegerEncoding = "rle"
			c.FloatEncoding = "bss"
		}, []string{
			`compression: unknown value "zstdd" (want one of: none, snappy, zstd, gzip)`,
			`integer_encoding: unknown value "rle" (want one of: plain, delta)`,
			`float_encoding: unknown value "bss" (want one of: plain, byte_stream_split)`,
			"row_group_rows: 0 out of range",
			"row_group_bytes: 10 out of range",
			"page_bytes: 2147483648 out of range",
			`dictionary_columns: "a..b" is not a column name`,
		}},
		{"zstd level", func(c *Config) { c.CompressionLevel = 23 }, []string{"compression_level: zstd level 23 out of range (want 1..22)"}},
		{"gzip level", func(c *Config) { c.Compression, c.CompressionLevel = "gzip", 10 }, []string{"compression_level: gzip level 10 out of range (want 1..9)"}},
		{"snappy has no level", func(c *Config) { c.Compression, c.CompressionLevel = "snappy", 3 }, []string{"compression_level: snappy has no levels"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Path = "x"
			tc.edit(&c)
			got := c.Problems()
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems %v, want %d", len(got), got, len(tc.want))
			}
			for i, p := range got {
				if s := p.Option + ": " + p.Msg; !strings.Contains(s, tc.want[i]) {
					t.Errorf("problem %d: got %q, want it to contain %q", i, s, tc.want[i])
				}
			}
		})
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	src := `partition_by: [stream, ""]
compression: zstdd
row_group_rows: 0
page_bytes: 10
`
	c, err := core.NewConfig("p.yaml", "sinks[0].config", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(context.Background(), core.Env{Config: c})
	var ces core.ConfigErrors
	if !errors.As(err, &ces) {
		t.Fatalf("got %v, want ConfigErrors", err)
	}
	want := []struct {
		line int
		path string
		msg  string
	}{
		{1, "sinks[0].config.partition_by[1]", "empty partition key"},
		{1, "sinks[0].config.path", "required"},
		{2, "sinks[0].config.compression", `unknown value "zstdd"`},
		{3, "sinks[0].config.row_group_rows", "0 out of range"},
		{4, "sinks[0].config.page_bytes", "10 out of range"},
	}
	got := map[string]*core.ConfigError{}
	for _, e := range ces {
		got[e.Path] = e
	}
	if len(ces) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(ces), len(want), err)
	}
	for _, w := range want {
		e := got[w.path]
		if e == nil || e.File != "p.yaml" || e.Line != w.line || !strings.Contains(e.Msg, w.msg) {
			t.Errorf("%s: got %v, want p.yaml:%d: ... %s", w.path, e, w.line, w.msg)
		}
	}

	// NewSink reports the same problems, without positions.
	cfg := DefaultConfig()
	cfg.PartitionBy = []string{"stream", ""}
	cfg.Compression = "lz4"
	_, err = NewSink(cfg, nil)
	for _, want := range []string{"parquet: path: required", "parquet: partition_by[1]", `parquet: compression: unknown value "lz4"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to contain %q", err, want)
		}
	}
}

func TestRegistered(t *testing.T) {
	f, ok := core.LookupSink("parquet")
	if !ok {
		t.Fatalf("parquet is not registered; registered sinks: %v", core.Sinks())
	}
	if f.Doc == "" {
		t.Error("got an empty Doc")
	}
	if _, ok := f.Options.(Config); !ok {
		t.Errorf("got Options of type %T, want Config", f.Options)
	}
	// Every option has a yaml name and a doc.
	typ := reflect.TypeOf(Config{})
	for i := range typ.NumField() {
		fld := typ.Field(i)
		if fld.Tag.Get("yaml") == "" || fld.Tag.Get("doc") == "" {
			t.Errorf("field %s: got yaml %q doc %q, want both", fld.Name, fld.Tag.Get("yaml"), fld.Tag.Get("doc"))
		}
	}
}
