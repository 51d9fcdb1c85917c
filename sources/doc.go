// Package sources is the home of the toolkit's built-in sources, one package each.
// Every source implements core.Source and registers itself in init(), so a binary
// picks its set by blank import:
//
//	import _ "github.com/etl-toolkit/etl/sources/generate"
//
// Where to start:
//   - generate: deterministic synthetic rows from a seed; the smallest complete
//     source, and the one tests and benchmarks use to drive sinks.
//   - azumio and asi: clients and sources for the two cloud APIs, each with an
//     in-memory emulator (azumiotest, asitest) that their tests and the example
//     pipelines run against.
//
// Every source is checked by the conformance suite in core/coretest.
package sources
