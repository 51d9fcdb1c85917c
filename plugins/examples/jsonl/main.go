// Command etl-sink-jsonl is a worked example of a third-party etl plugin: a
// sink that writes JSON Lines files (one JSON object per row) into a
// Hive-partitioned directory tree, committed atomically, built as a program of
// its own against etl's plugin SDK.
//
// Build it and name it in a pipeline file:
//
//	go build -o bin/etl-sink-jsonl ./plugins/examples/jsonl
//
//	sinks:
//	  - plugin: external:./bin/etl-sink-jsonl
//	    config: { path: ./out/jsonl, partition_by: [stream, unit] }
//
// Options (see Config): path (required), partition_by (default [stream]) and
// roll. Each row is one line: an object keyed by column name, with values as
// Arrow's JSON encoding writes them (timestamps and dates as text, lists as
// arrays, structs as objects), which Arrow's JSON reader reads back with the
// stream's schema.
//
// What it shows: main serves a core.Factory through sdk.ServeSink; New
// decodes the config section with core.Config.Decode and reports every
// problem with core.Config.Errorf, so that etl shows it at its line in the
// pipeline file; the file tree, partitioning, rolling and two-phase commit are
// etl's sinks/files package, and the format is a dozen lines. Its tests run
// etl's conformance suite against the built binary (plugintest.Sink).
package main

import (
	"github.com/etl-toolkit/etl/plugins/sdk"
)

func main() {
	sdk.ServeSink("jsonl", Factory)
}
