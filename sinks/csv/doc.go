// Package csv is the `csv` sink: RFC 4180 CSV files (quoting by encoding/csv),
// one header row of column names, one line per row, written through
// sinks/files, so that files are Hive-partitioned (partition_by, default
// [stream]), rolled by rows, bytes or age (roll), and committed atomically.
//
// Options (see Config): path, partition_by, roll, delimiter (default ","),
// null (default empty) and header (default true). In a pipeline file:
//
//	sinks:
//	  - plugin: csv
//	    config: { path: ./out, partition_by: [stream, date], delimiter: ";", null: '\N' }
//
// Values are written as:
//
//	integers, floats   Go's shortest form that reads back to the same number: 1.5, 1e+21;
//	                   NaN, +Inf, -Inf
//	booleans           true, false
//	strings            as they are (quoted by the RFC 4180 rules when needed)
//	binary             base64 (standard alphabet, padded)
//	timestamps         ISO 8601 in UTC with the unit's precision: 2026-11-21T10:00:00.123Z
//	dates, times       2026-11-21, 10:00:00.123
//	durations          the integer count of the column's unit
//	decimals           fixed-point text of the column's scale: 12.50
//	lists, structs,    JSON text: [1,2], {"a":1,"b":"x"}, maps as objects keyed by
//	maps               the keys' text; nested timestamps and dates as ISO strings,
//	                   NaN and infinities as strings
//	dictionaries       their values
//	other types        Arrow's own text for them (ValueStr): a UUID extension
//	                   as 123e4567-e89b-12d3-a456-426614174000
//	null               the null text
//
// With the default null text an empty string and a null look the same; set
// null (e.g. to \N) to tell them apart. Formatting is column-wise per batch,
// one type switch per column; see BenchmarkEncode.
package csv
