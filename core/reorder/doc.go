// Package reorder is the `reorder` transform: it puts rows back in event-time
// order per key before they reach the sinks, so that a live stream whose
// messages arrive out of order (the ASI WebSocket streams, say) lands sorted,
// with a bounded delay, and nothing late is lost silently.
//
// # Keys and event time
//
// A key is the batch's stream and unit (a device, a time frame) plus the values
// of the optional `key` columns (e.g. `timeframe` on a per-activity stream).
// The event time of a row is its `time` column: an Arrow timestamp, or an
// integer or float counting `time_unit`s (ms by default, as ASI sends) since
// the UNIX epoch. Rows whose event time is null are released at once, in
// arrival order, as they cannot be ordered. Batches of streams that do not
// match `streams`, or whose schema has no `time` column, pass through
// unchanged (in their place in the unit's order).
//
// # When rows are released
//
// Each key holds its rows in a buffer. With `max_delay` (watermark mode), the
// watermark of a key is the greatest event time seen for it minus max_delay,
// and every held row at or below the watermark is released, oldest first.
// With `buffer_size: N` (count mode, mirroring the ASI server parameter), a key
// holds at most N rows and releases the oldest when it holds more.
// `flush_timeout` releases the whole buffer of a key that has gone quiet: one
// whose greatest event time is more than flush_timeout behind the greatest
// event time seen on its stream. Flush (at the end of a unit, or of the run)
// releases everything held. Ties in event time keep their arrival order.
//
// All of this is measured in event time, never on the wall clock, so the
// transform is deterministic: the same input in the same order gives the
// same output, and replaying an archive (or any batch run) reproduces it.
//
// # Live units: processing time
//
// On a live stream the event-time watermark moves only when a key's next
// message comes, so a row would wait for its successor: up to one message
// interval more than max_delay, more when the successor is itself late. The
// transform is therefore a core.Ticker: for the units the source reports
// live, the runner ticks it (every 10ms, or the pipeline file's tick) and it
// takes a key's event time to run with the wall clock, at the pace of its most
// forward row (the one whose event time was furthest ahead of its arrival). A
// held row of a live unit is released by a tick once
//
//	event time <= now + max over the key's rows of (event time − arrival) − max_delay
//
// and a live key whose last row arrived flush_timeout or more ago is released
// whole (in count mode too), as the ASI server does. A row's arrival is when
// the source emitted it (core.Arrival, which the runner sets), or when Apply
// got it if nothing says: time spent queued before the transform, behind a
// burst of other devices' messages, counts against max_delay.
//
// A row of a live unit thus leaves at most max_delay (plus a tick) after it
// arrives, whatever its successors do, and a row arriving after newer rows
// were released is late. A live run's output then depends on when messages
// arrived, not only on their order: a replay of its input without ticks gives
// the same rows in the same order per key, except that rows the live run
// judged late may be sorted in instead. Units the source does not report live
// are never released by ticks, so batch runs stay deterministic.
//
// # Late rows and duplicates
//
// A row older than the last row already released for its key is late. The
// `late` policy says what becomes of it: `dead_letter` (the default: it goes
// to the dead-letter file with its reason), `drop`, or `pass` (released at
// once, out of order). An exact duplicate, a row with the same key, event
// time and values as a row held or last released, is dropped. Stats counts
// each case; the counts are logged when the transform closes and added to
// the pipeline's counters (reorder.late, reorder.dead_lettered,
// reorder.duplicates, reorder.timed_out), so the run summary and the metrics
// show them.
//
// # Positions
//
// An output batch carries a Position only once every row of the unit's input
// batches up to that position has been released, dropped or dead-lettered, as
// core.Transform requires; a run that stops while rows are held resumes from
// before them.
//
// # Where to start
//
// Config lists the options; New builds a Transform; Stats reports the counts.
// The transform registers itself as `reorder`.
package reorder
