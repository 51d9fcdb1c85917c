// Package flightserve is a small Arrow Flight server that stores every DoPut
// stream it receives as Parquet files, through the toolkit's parquet sink, and
// serves them back: `etl flight-serve` runs it, and the flight sink's tests
// use it as their server. Start with New and Options.
//
// # Storing
//
// A put's rows go under the output directory in one directory per descriptor
// (see DescriptorDir): a path ["azumio-nightly", "azumio.checkins.steps"]
// becomes DIR/azumio-nightly/azumio.checkins.steps/part-<time>-<token>-<n>.parquet,
// readable by DuckDB, pandas, Polars and Spark like the parquet sink's output.
// The files of a put become visible only when the client has closed its side
// of the stream cleanly, which is when the server acknowledges the put (with
// a PutResult whose app metadata is a Receipt, then OK): a put that breaks
// off stores nothing, so a client that sends it again stores it once.
//
// # Deduplication
//
// Puts from the flight sink carry flight.AppMetadata. The server remembers,
// in a bbolt file in the output directory (StoreFile), the put ids it stored
// and the last MaxPositions positions per (descriptor, pipeline, stream, unit).
// A put it already stored (the acknowledgement was lost and the sink sent it
// again) is acknowledged again without writing; a batch whose position it
// already stored (a run that crashed between the acknowledgement and saving
// its positions sends it again) is skipped. So the sink's at-least-once
// delivery becomes exactly-once here. These records and the Parquet commit are
// tied by a two-phase commit: the files are prepared (written, fsynced,
// hidden), the records written with the transaction in one bbolt update, the
// files renamed into place; a crash in between is completed by the next New.
//
// Deduplication is for what is sent again after a failure. Exporting the same
// rows again on purpose (after `etl state reset`) into the same directory
// would store only the batches older than the positions remembered: export
// into a new directory instead.
//
// # Reading back
//
// ListFlights lists one FlightInfo per descriptor and schema stored (rows,
// bytes, the Arrow schema); GetFlightInfo gives a descriptor's latest; DoGet
// with an endpoint's ticket streams the rows back, in the order stored, cut to
// the message limit.
//
// # Security
//
// Options.TLS serves over TLS (mutual TLS with ClientAuth and ClientCAs).
// With Options.Tokens or Options.Users set, every call needs a bearer token:
// one of Tokens, or one the basic-auth handshake issues to a user of Users
// (arrow-go's basic-auth middleware).
package flightserve
