// Package siunits is the `si_units` transform: it converts the measurements of
// every batch to SI units and writes each field's unit into its Arrow field
// metadata (key "unit"), which the Parquet sink carries into the file, so that
// a reader knows what every number means.
//
// # What a field becomes
//
// The unit a field arrives in comes from, in order: the pipeline's per-field
// override (`from`), the field's own `unit` metadata (sources set it where
// they know it), then the unit catalogue (Catalogue), which lists every
// numeric field of the Azumio and ASI APIs with its unit and what it measures.
// A field with none of them is left alone. What it becomes depends on what it
// measures:
//
//	length m · speed m/s · acceleration m/s² · duration s · mass kg · power W
//	energy J (option energy: kcal) · heart rate 1/min (option heart_rate: Hz)
//	cadence 1/min · other frequencies Hz · latitude/longitude deg (kept)
//	counts "1" and percentages "%" (kept, unit recorded)
//	points in time (UNIX s/ms/us numbers) → Arrow timestamp, UTC:
//	    integers → timestamp[ms] (timestamp[us] from us), floats → timestamp[us]
//	Azumio's timezone (hours) → utc_offset_s, int32 seconds
//	ids, versions, codes → unchanged
//
// A per-field override (`fields: {calories: {to: kcal}}`) picks another target
// unit, `from` says what unit the field really arrives in, and `keep: kcal`
// adds a second column (calories_kcal) beside the converted one. A key is a
// field path, for every stream, or STREAM:PATH for one; where several match,
// an exact STREAM:PATH wins over one with patterns, which wins over a bare
// path. A key that names no field of the catalogue, an unknown unit or units
// of different dimensions (m → s) are config errors at their place in the
// pipeline file, listing the valid units. The local date of a check-in is computable from the two
// columns it ends up with: the instant plus utc_offset_s seconds.
//
// # Exactness
//
// Every unit's size is an exact ratio of its SI unit (Unit.Num/Unit.Den), so
// every conversion is v × num ÷ den with integers num and den (Factor): kcal→J
// is × 4184, ms→s is ÷ 1000, km/h→m/s is × 5 ÷ 18. When num or den is 1 the
// conversion is one IEEE operation, so the result is the float64 nearest the
// exact one. A converted number becomes float64 (it is no longer an integer in
// general); a field whose unit stays the same keeps its type and values.
// Points in time from floats are rounded to the nearest microsecond; NaN,
// infinities and out-of-range values become null.
//
// # Nested data
//
// A field's path names it through structs (accelerations.threshold_1.threshold);
// lists are transparent, so a path naming a list column converts every element
// of it (asi.preprocessed:gnss.speed). Lists and structs are rebuilt around
// their converted children with the same offsets and validity; nothing is
// copied that does not change, and the kernels run over whole Arrow buffers,
// never one value at a time through an interface.
//
// # Where to start
//
// Config lists the options; New builds a Transform (with an allocator tests can
// check); Catalogue, Units and Factor explain every conversion. The plugin
// registers itself as `si_units`; cmd/etl imports it.
package siunits
