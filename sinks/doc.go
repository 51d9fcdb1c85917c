// Package sinks is the home of the built-in sinks; it holds no code itself.
//
//   - files: the machinery every file sink shares (Hive-partitioned layout,
//     hidden temp files, two-phase commit by rename, rolling). Start there to
//     write a new file format: implement files.Format and call files.New.
//   - csv: the `csv` sink, RFC 4180 text on top of files.
//   - parquet: the `parquet` sink, on top of files.
//   - flight: the `flight` sink, an Arrow Flight client.
//
// Each sink registers itself with core.RegisterSink from init(); cmd/etl
// blank-imports the set.
package sinks
