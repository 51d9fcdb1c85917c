// Command bench is the benchmark harness of issue 11: it prepares the datasets
// (seeded, so the same on every machine), runs the workloads P1-P5 several
// times, and prints one markdown section per workload with medians, min–max,
// CPU seconds, peak RSS and the goals met or missed. With -write it puts each
// section into docs/benchmarks.md between the workload's markers, so that
//
//	go run ./bench -write
//
// reproduces every table there. bench/README.md says what each workload runs
// and how it is measured; in short:
//
//   - P1 (p1.go): 1,000 recorded Azumio pages of 1,000 steps check-ins into
//     zstd Parquet, `etl run` replaying the raw archive against DuckDB's
//     read_json → COPY over the same pages (bench/duckdb/copy.mjs, installed
//     with npm ci by the harness), alternating, plus two floors.
//   - P2 (p2.go): 1,000 users through the Azumio emulator with 20 ms added to
//     every request, under a request-rate limit.
//   - P3 (gotest.go): the live load benchmark of sources/asi, parsed.
//   - P4 (gotest.go): the plugins' sink benchmark, external vs built in.
//   - P5 (p5.go): bench/parquet at 1 M and 10 M rows, peak RSS.
//
// Every process measured is a child of the harness (an etl binary built once
// from the working tree, node, or `go test`), measured by the rusage wait4
// returns: wall time, user+system CPU time and peak RSS. The emulators of P2
// run in the harness's own process.
//
// Where to start: run in main.go, the workloads in the order above, report.go
// for the markdown. The harness runs on Linux (rusage, /proc).
package main
