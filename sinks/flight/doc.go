// Package flight is the `flight` sink: it delivers record batches to an Apache
// Arrow Flight service with DoPut (arrow-go's arrow/flight over gRPC), for
// teams whose query engine, feature store or ingest service speaks Flight.
//
// Where to start: Config (the options), Sink (how puts, acknowledgements and
// retries give the commit guarantee), AppMetadata (what every message tells
// the server so it can deduplicate). The flightserve subpackage is a small
// Flight server that stores what it receives as Parquet: `etl flight-serve`,
// and the counterpart of this package's tests.
//
// In a pipeline file:
//
//	sinks:
//	  - plugin: flight
//	    config:
//	      location: grpc+tls://flight.example.com:443
//	      path: ["exports", "{pipeline}", "{stream}"]   # the default is ["{pipeline}", "{stream}"]
//	      tls: { ca_file: ./ca.pem }
//	      auth: { token_env: FLIGHT_TOKEN }
//	      headers: { x-tenant: acme }
//	      compression: zstd
//
// # Descriptors and streams
//
// Each batch goes to the DoPut of its descriptor: a path whose elements are
// templates of {pipeline}, {stream} and {unit} (so ["{pipeline}", "{stream}",
// "{unit}"] gives every unit its own put), or a command, one such template. A
// DoPut carries one schema: when a stream's schema changes, the sink finishes
// the put and starts another. A batch larger than max_message_bytes (gRPC's
// 4 MiB default limit) or batch_rows is sent as several messages, never
// refused; only a single row (or a dictionary) larger than the limit cannot be
// sent, and the sink then stops naming the option to raise. compression:
// lz4 or zstd compresses the IPC buffers (Arrow 1.0's buffer compression,
// which every current Flight implementation reads).
//
// # Credentials
//
// auth sends a bearer token read from an environment variable (token_env) or
// a file (token_file) in the authorization header of every call, or does
// Flight's basic-auth handshake (username with password_env or password_file)
// and sends the token the server returns. tls takes a CA file (default: the
// system's roots), a client certificate and key for mutual TLS, a server name,
// and insecure_skip_verify for tests. headers adds any other header. Tokens
// and passwords never appear in errors or logs; a refused credential is
// reported as the server's Unauthenticated with a hint at the auth options.
//
// # Failures
//
// Unavailable (the server restarting, the connection lost) and timeouts are
// retried with exponential backoff (retry: initial, max, max_elapsed) by
// sending the whole put again on a new DoPut; TLS handshake failures and every
// other status stop the pipeline with the server's message, and the next run
// resumes from the last commit. See Sink for why nothing is lost or doubled.
package flight
