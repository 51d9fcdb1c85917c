// Package parquet is the `parquet` sink: it writes record batches as Parquet
// files that DuckDB, pandas/pyarrow, Polars and Spark read directly.
//
// The file tree, temp files, two-phase commit and rolling are sinks/files's;
// this package is the Parquet Format on top of it (format: Format, Encoder) and
// the plugin registration (sink.go: New, NewSink, Config).
//
// # Types
//
// Columns keep the Arrow schema's order and nullability (nullable: OPTIONAL,
// not nullable: REQUIRED; a null in a non-nullable field is an error):
//
//	int8..int64, uint8..uint64   INT32/INT64 with the INT(bits, signed) logical type
//	float32, float64, bool       FLOAT, DOUBLE, BOOLEAN
//	string, large_string         BYTE_ARRAY, STRING
//	binary, large_binary         BYTE_ARRAY
//	timestamp[ms], [us]          INT64 TIMESTAMP(MILLIS|MICROS, isAdjustedToUTC=true)
//	timestamp[s], [ns]           converted: s to ms, ns to µs (rounded down); never ns
//	date32, date64               INT32 DATE
//	list, large_list,            3-level LIST (optional group (LIST) { repeated group
//	fixed_size_list                list { element } }), null lists and null elements kept
//	struct                       group, fields in order
//	dictionary<_, T>             T, dictionary-encoded
//
// Other Arrow types (maps, unions, decimals, views, times, durations, intervals)
// make NewEncoder fail, naming the column.
//
// Timestamps are instants in UTC, so DuckDB reads them as TIMESTAMP WITH TIME
// ZONE. The Arrow schema is stored as pqarrow stores it (base64 IPC under the
// ARROW:schema key), with timestamps as written (time zone kept, "UTC" when
// there was none) and list elements named "element", so pqarrow restores the
// types and every field's metadata (e.g. unit: m/s). Field metadata is also
// written as plain key-values "<column>.<key>" ("speed.unit" = "m/s", a struct
// field "position.lat.unit") for readers that ignore ARROW:schema, and the
// schema's own metadata as is.
//
// # Writing
//
// The encoder goes column by column from Arrow buffers straight to pages
// (shred.go computes repetition and definition levels, column.go and
// values.go build the pages, file.go the file), and cuts a row group when it
// holds row_group_rows rows or about row_group_bytes encoded bytes, whichever
// comes first. It uses parquet-go for the schema's nodes and logical types,
// the footer's Thrift structures, the RLE/bit-packing of levels and
// dictionary indexes, the dictionaries' hash tables and the codecs, but not
// its writer: column.go says why (speed, measured).
//
// Pages are version 1 data pages, compressed with the compression option
// (zstd level 1 by default, as pyarrow), PLAIN-encoded (or, with
// integer_encoding: delta, DELTA_BINARY_PACKED for integer, date and
// timestamp pages it makes smaller; with float_encoding: byte_stream_split,
// BYTE_STREAM_SPLIT for float and double pages) or dictionary-encoded:
// with dictionary on (the default), a column is dictionary-encoded unless the
// first 4096 rows of its file hold at least 256 values, more than half of them
// distinct (ids, measurements, timestamps), and a dictionary that outgrows
// page_bytes in a row group falls back to plain. dictionary_columns decides
// for the columns it names; an Arrow dictionary column is dictionary-encoded
// unless named there; booleans never are.
//
// Each column chunk has statistics (null count; min and max under the
// logical type's order: unsigned integers as unsigned, NaN left out, strings
// as unsigned bytes, none for strings over 4 KiB) and encoding stats, an
// offset index (page locations); data page headers carry their null count.
// There is no column index (page min/max) and no bloom filter.
//
// When GOMAXPROCS is above 1, Encode shreds and compresses the columns of a
// record of 256 rows or more, and ends each row group, on that many
// goroutines, which meet every few thousand rows; the file is the same, byte
// for byte, as on one goroutine (when row groups are cut by rows).
//
// # Speed
//
// BenchmarkEncode writes a million 25-column Azumio-like rows (two lists) to
// zstd Parquet, 53 bytes a row:
//
//	go test ./sinks/parquet -run '^$' -bench 'BenchmarkEncode$' -cpu 1,2
//
// On one core of the development machine (AMD EPYC, shared with other work)
// that takes 0.46-0.50 s, 2.1-2.2 M rows/s, where parquet-go's own writer
// took 0.9 s (1.1 M rows/s): 45% is zstd, a fifth the strings (dictionary
// lookups), the rest levels, copies and statistics. On two cores, 3.2-3.4 M
// rows/s. rows/cpu-s, the CPU time of the process, is the steadier figure on
// a busy machine.
//
// # Memory
//
// An open file holds its row group's pages (compressed), one open page per
// leaf column (at most page_bytes, plus dictionaries), and the Format keeps
// zstd encoders with a window of one page (about 2 MiB per CPU). bench/parquet
// measures the peak RSS of a whole `etl run` writing a million such rows:
//
//	go run ./bench/parquet -procs 1 -max-rss 200
//
// The sink's part is about 45 MiB of live heap (for 25 columns and 1 MiB
// pages); most of the rest is the source's batches in flight, and the GC's
// headroom (see bench/parquet's doc).
package parquet
