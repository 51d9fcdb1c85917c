// Package generate is the `generate` source: deterministic synthetic rows from a
// seed, for trying sinks, for tests (among them a crash test that kills the
// process at random moments and checks that the committed output holds every row
// exactly once) and for benchmarks.
//
// # Units and rows
//
// The source has Config.Units units named unit-0001, unit-0002, ...; each holds
// Config.Rows rows (or rows without end with Config.Endless). Row i of unit u is a
// pure function of (seed, u, i): every column's values come from a counter-based
// splitmix64 stream keyed by the seed, the unit and the column's name, so reading
// from any position yields exactly the rows a full run emits after it, and adding,
// removing or reordering columns leaves the other columns' values unchanged.
//
// Every record has a first column `unit` (string, the unit id: provenance) followed
// by the configured columns; without columns the defaults are
//
//	id    index         the row's index within its unit, never null
//	ts    timestamp_ms  2026-01-01T00:00:00Z + i seconds + a random 0-999 ms
//	value float64       unit "m", 0.000 to 999.999
//	label string        from a small vocabulary that includes a comma, quotes
//	                    and non-ASCII letters, to exercise sinks' escaping
//
// # Positions
//
// A unit's Position is the index of the next row to read, as 8 big-endian bytes.
// Each batch's Position is the index after its last row; a nil Position reads
// from row 0, and a Position at or past the end of a finite unit emits nothing.
//
// # Where to start
//
// Config lists the options; NewSource builds a Source from a Config (with an
// allocator that tests can check); the `generate` plugin decodes a pipeline's
// config section onto DefaultConfig and calls NewSource.
package generate
