package core

import "context"

// Sink writes batches to a destination (files, a Flight service, a plugin) under a
// two-phase commit driven by the runner, so that positions are saved only for rows
// that are durably written and a crash never leaves a partial file visible.
//
// The runner calls Write for every batch, then at each commit point Prepare, then it
// records the returned transaction in the state store, then Commit, then it saves the
// units' positions. A crash anywhere leaves either the previous commit (the prepared
// rows are discarded and read again) or the transaction, which the next run finishes
// by calling Commit with it before writing anything. The runner never calls a sink
// concurrently.
type Sink interface {
	// Write appends the batch's rows to what will be the next commit. The sink
	// borrows b: it must Retain b.Record to keep it after Write returns.
	Write(ctx context.Context, b Batch) error

	// Prepare makes every row written since the last Prepare durable but not yet
	// visible (temp files written and fsynced; a remote put acknowledged) and
	// returns a transaction: opaque bytes saying how to make them visible. It
	// returns nil when there is nothing to commit or nothing left to do.
	Prepare(ctx context.Context) (txn []byte, err error)

	// Commit makes a prepared transaction visible (rename temp files into place,
	// fsync the directory). It must be idempotent: called again with the same txn,
	// by this process or by a later one after a crash, it completes whatever is
	// left and succeeds.
	Commit(ctx context.Context, txn []byte) error

	// Close releases resources. Rows written but not prepared are discarded.
	Close() error
}

// CommitRequester is implemented by sinks that roll their output (by rows, size or
// age): after each Write the runner asks, and commits at once when the answer is true,
// so that every roll is committed, and its position saved, on its own.
type CommitRequester interface {
	CommitWanted() bool
}

// Checker is implemented by components that can check their connections or paths
// without writing anything; `etl run --dry-run` and `etl validate --check` call it.
type Checker interface {
	Check(ctx context.Context) error
}

// SinkStats is implemented by sinks that report what they committed, for the
// end-of-run summary.
type SinkStats interface {
	// Committed returns the number of files (or remote puts) made visible so far.
	Committed() int64
}

// Locator is implemented by sinks whose output a person can open: the end-of-run
// summary prints where it is and a query to look at it.
type Locator interface {
	// Location returns where the output is (a directory, a URL) and a DuckDB
	// query over it ("" if there is none).
	Location() (where, query string)
}
