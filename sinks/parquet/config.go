package parquet

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dustin/go-humanize"
	kzstd "github.com/klauspost/compress/zstd"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/gzip"

	"github.com/etl-toolkit/etl/sinks/files"
)

// Config is the `parquet` sink's `config:` section. Sizes (row_group_bytes,
// page_bytes, roll.bytes) are a number of bytes or a text with a unit: 64MiB, 1GB.
// Decode it on top of DefaultConfig.
type Config struct {
	Path        string     `yaml:"path" doc:"root directory of the Parquet tree (required)"`
	PartitionBy []string   `yaml:"partition_by" doc:"partition keys, outermost first: stream, unit, date, date:COLUMN or a column name (default [stream])"`
	Roll        files.Roll `yaml:"roll" doc:"when to close a file and commit it: rows, bytes, interval (default: at each commit)"`

	Compression      string         `yaml:"compression" doc:"page compression: none, snappy, zstd or gzip (default zstd)"`
	CompressionLevel int            `yaml:"compression_level" doc:"zstd level 1..22 (mapped onto 4 speeds: 1-2, 3-5, 6-9, 10+) or gzip level 1..9 (default: zstd 1 as pyarrow, gzip 6)"`
	RowGroupRows     int64          `yaml:"row_group_rows" doc:"rows per row group at most (default 131072)"`
	RowGroupBytes    files.ByteSize `yaml:"row_group_bytes" doc:"bytes per row group at most, as encoded; bounds the sink's memory per open file (default 64MiB, or roll.bytes if smaller)"`
	PageBytes        files.ByteSize `yaml:"page_bytes" doc:"target size of a data page before compression (default 1MiB)"`
	Dictionary       bool           `yaml:"dictionary" doc:"dictionary-encode columns, but booleans and columns whose first 4096 rows in a file are mostly distinct values; a dictionary that outgrows page_bytes falls back to plain (default true)"`
	// DictionaryColumns overrides Dictionary per column: a top-level column
	// name, or a dotted path to a struct field ("position.lat"); the longest
	// matching path wins. Names that a stream's schema does not have are ignored,
	// since one sink receives several streams.
	DictionaryColumns map[string]bool `yaml:"dictionary_columns" doc:"per-column dictionary override, e.g. {user_id: true, value: false}; a struct field is parent.child"`
	IntegerEncoding   string          `yaml:"integer_encoding" doc:"pages of integer, date and timestamp columns not dictionary-encoded: plain, or delta (DELTA_BINARY_PACKED where smaller than PLAIN: smaller files, less to compress) (default plain)"`
	FloatEncoding     string          `yaml:"float_encoding" doc:"pages of float and double columns not dictionary-encoded: plain, or byte_stream_split (BYTE_STREAM_SPLIT: zstd compresses them many times faster; smaller for whole numbers and full-precision measurements, larger for short decimals) (default plain)"`
}

// Defaults of the options left out of a config.
const (
	DefaultCompression   = "zstd"
	DefaultRowGroupRows  = 128 << 10
	DefaultRowGroupBytes = 64 << 20
	DefaultPageBytes     = 1 << 20
	DefaultZstdLevel     = 1
	// DefaultIntegerEncoding is plain, as pyarrow writes. delta makes
	// steadily growing integers (timestamps, ids, versions) a third of
	// PLAIN's bytes, and zstd takes a third of the time to compress them;
	// DuckDB, pyarrow, Polars and Spark decode it, but arrow-go's reader
	// (v18.8.0) leaks a 64-byte buffer from its allocator per delta page
	// decoder, which readers with a checked or C allocator notice.
	DefaultIntegerEncoding = "plain"
	// DefaultFloatEncoding is plain, as pyarrow writes. byte_stream_split
	// puts each byte of the values in a stream of its own: zstd then
	// stores the streams of noisy low bytes raw at once instead of
	// searching them for matches. Measured on the million check-ins of the
	// Azumio replay benchmark (eight double columns), zstd took 0.01 CPU-s
	// for them instead of 0.27. Sizes depend on the values (zstd level 1,
	// pages of 128 Ki doubles): whole numbers 0.27 of PLAIN's bytes
	// instead of 0.32, full-precision measurements 0.75 instead of 1.0,
	// but decimals with two or three digits after the point (what JSON
	// APIs send, as the Azumio check-ins) 0.88 instead of 0.45-0.58: their
	// binary fractions repeat, which zstd finds in PLAIN bytes only.
	// DuckDB (0.10 and later), pyarrow, Polars and Spark 3.4+ read it.
	DefaultFloatEncoding = "plain"
)

// DefaultConfig returns a Config with every default filled in and no path.
func DefaultConfig() Config {
	return Config{
		PartitionBy:     []string{"stream"},
		Compression:     DefaultCompression,
		RowGroupRows:    DefaultRowGroupRows,
		RowGroupBytes:   DefaultRowGroupBytes,
		PageBytes:       DefaultPageBytes,
		Dictionary:      true,
		IntegerEncoding: DefaultIntegerEncoding,
		FloatEncoding:   DefaultFloatEncoding,
	}
}

// Problem is one invalid option of a Config, named as in a pipeline file.
type Problem = files.Problem

// Compressions lists the values of the compression option.
var Compressions = []string{"none", "snappy", "zstd", "gzip"}

// IntegerEncodings lists the values of the integer_encoding option.
var IntegerEncodings = []string{"plain", "delta"}

// FloatEncodings lists the values of the float_encoding option.
var FloatEncodings = []string{"plain", "byte_stream_split"}

// Limits of the sizes, so that a typo cannot ask for pages of a few bytes or
// row groups that do not fit in memory.
const (
	minPageBytes     = 1 << 10
	maxPageBytes     = 1 << 30
	minRowGroupBytes = 1 << 10
	maxRowGroupBytes = 1 << 34
	maxRowGroupRows  = 1 << 30
)

// Problems checks the options that shape the files (not path, partition_by and
// roll, which files.Options checks) and returns every problem found.
func (c Config) Problems() []Problem {
	var out []Problem
	add := func(opt, format string, args ...any) {
		out = append(out, Problem{Option: opt, Msg: fmt.Sprintf(format, args...)})
	}
	switch c.Compression {
	case "none", "snappy":
		if c.CompressionLevel != 0 {
			add("compression_level", "%s has no levels; remove compression_level or use zstd or gzip", c.Compression)
		}
	case "zstd":
		if c.CompressionLevel < 0 || c.CompressionLevel > 22 {
			add("compression_level", "zstd level %d out of range (want 1..22)", c.CompressionLevel)
		}
	case "gzip":
		if c.CompressionLevel < 0 || c.CompressionLevel > 9 {
			add("compression_level", "gzip level %d out of range (want 1..9)", c.CompressionLevel)
		}
	default:
		add("compression", "unknown value %q (want one of: %s)", c.Compression, strings.Join(Compressions, ", "))
	}
	if !slices.Contains(IntegerEncodings, c.IntegerEncoding) {
		add("integer_encoding", "unknown value %q (want one of: %s)", c.IntegerEncoding, strings.Join(IntegerEncodings, ", "))
	}
	if !slices.Contains(FloatEncodings, c.FloatEncoding) {
		add("float_encoding", "unknown value %q (want one of: %s)", c.FloatEncoding, strings.Join(FloatEncodings, ", "))
	}
	if c.RowGroupRows < 1 || c.RowGroupRows > maxRowGroupRows {
		add("row_group_rows", "%d out of range (want 1..%d)", c.RowGroupRows, maxRowGroupRows)
	}
	if c.RowGroupBytes < minRowGroupBytes || c.RowGroupBytes > maxRowGroupBytes {
		add("row_group_bytes", "%d out of range (want %s..%s)", c.RowGroupBytes,
			humanize.IBytes(minRowGroupBytes), humanize.IBytes(maxRowGroupBytes))
	}
	if c.PageBytes < minPageBytes || c.PageBytes > maxPageBytes {
		add("page_bytes", "%d out of range (want %s..%s)", c.PageBytes,
			humanize.IBytes(minPageBytes), humanize.IBytes(maxPageBytes))
	}
	for name := range c.DictionaryColumns {
		if name == "" || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
			add("dictionary_columns", "%q is not a column name or dotted struct field path", name)
		}
	}
	return out
}

// codec returns the codec for the compression options, which Problems has
// accepted. A zstd codec has encoders for concurrency goroutines at once.
func (c Config) codec(concurrency int) (compress.Codec, error) {
	switch c.Compression {
	case "none":
		return &pq.Uncompressed, nil
	case "snappy":
		return &pq.Snappy, nil
	case "gzip":
		level := gzip.DefaultCompression
		if c.CompressionLevel > 0 {
			level = c.CompressionLevel
		}
		return &gzip.Codec{Level: level}, nil
	default:
		// Level 1 by default, as pyarrow: measured on Azumio-like rows,
		// it costs 20% less CPU than level 3 for files 2% larger.
		level := DefaultZstdLevel
		if c.CompressionLevel > 0 {
			level = c.CompressionLevel
		}
		// klauspost/compress has four zstd speeds and maps the standard
		// levels onto them (1-2 fastest, 3-5 default, 6-9 better, 10+ best).
		return newZstdCodec(kzstd.EncoderLevelFromZstd(level), int(c.PageBytes), concurrency)
	}
}
