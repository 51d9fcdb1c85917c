// Package files is the machinery every file sink shares: it lays out
// Hive-partitioned directories, writes each file hidden under a temp name,
// rolls files by rows, bytes or age, and makes them visible by a two-phase
// commit (fsync, rename, fsync the directory), as core.Sink asks. A file
// format plugs in as a Format; sinks/csv and sinks/parquet are the two in the
// toolkit. Start with New and Format.
//
// # Layout
//
//	PATH/k1=v1/k2=v2/PREFIX-20261121T100000.123456Z-1a2b3c4d-000001.EXT
//
// The time is when the file was opened (UTC), the hex token is random per Sink
// and the number counts files per Sink, so names sort by time and never collide,
// across runs and across processes writing the same tree. While being written a
// file is PATH/k1=v1/.NAME.tmp: readers and globs skip names starting with a dot.
//
// # Partition keys
//
// Options.PartitionBy lists keys, outermost first:
//
//	stream        the batch's stream name
//	unit          the batch's unit of work (e.g. user/123 -> unit=user%2F123)
//	date          UTC date (2026-11-21) of the first timestamp column, or of
//	              the first date column when there is no timestamp
//	date:COLUMN   UTC date of the named timestamp or date column
//	NAME          the value of column NAME as text (column:NAME for a column
//	              called stream, unit or date)
//
// Values are escaped as Hive does (see Escape); null and empty values are
// DefaultPartition. A batch whose rows fall into several partitions is split:
// long runs of rows are sliced without copying, interleaved rows are gathered
// with one compute.Take.
//
// # Files and commits
//
// A Sink keeps one open file per partition directory and stream. A batch whose
// schema differs from its open file's closes that file (it joins the next
// commit) and starts another: a file never mixes schemas. Prepare closes every
// file and fsyncs it, and returns a transaction listing temp and final names;
// Commit renames each temp file that still exists into place and fsyncs the
// directories. Commit is idempotent, also in another process after a crash;
// Close removes every temp file not yet prepared.
//
// Temp files of a transaction that was prepared but never recorded (a crash
// between Prepare and the runner's state write) stay behind, hidden; their rows
// are read again and written to new files by the next run.
package files
