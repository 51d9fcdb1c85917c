// Package plugins runs components that live in programs of their own:
// third-party plugins built against plugins/sdk, and etl's built-ins run out
// of process for isolation (`plugin: external:builtin:csv`, served by `etl
// plugin serve csv`).
//
// Importing the package installs Default, an Opener, as core's External, so
// that pipeline files can name `plugin: external:REF`, where REF is a path to
// an executable, a name from the plugins directory's manifest, or
// builtin:NAME (see Opener). The components it returns satisfy core.Source,
// core.Transform and core.Sink (and core.CommitRequester, core.SinkStats,
// core.Locator and core.Checker, answered by the plugin), so the runner cannot
// tell them from built-ins.
//
// Under the hood each component is one process started with
// hashicorp/go-plugin: a versioned handshake with a cookie of etl's own,
// automatic mutual TLS, and for plugins recorded in a manifest a SHA-256 check
// of the executable before it starts (ChecksumError). The protocol is
// plugins/proto (gRPC), in versions that go-plugin negotiates; a plugin that
// speaks none of this build's is refused with an error that says so.
//
// Batches travel as Arrow IPC cut into 1 MiB chunks, which a gRPC codec of
// this package's own (internal/wire.Codec, protobuf on the wire) sends and
// receives without copying them in and out of protobuf messages. gRPC's fixed
// flow-control windows and a bound on a sink's unanswered bytes
// (Opener.MaxInFlight) keep memory bounded when one side is slower. Errors
// keep their kind (transient with its wait, permanent, cancelled, config
// problems mapped back to file:line:col), and what a source plugin reports
// with core.ReportStatus reaches the host's. A plugin's log lines go to the
// component's slog logger; a plugin that dies fails the call that found it
// with a CrashError holding its last stderr lines, and a rerun resumes from
// the last commit.
//
// Where to start reading: opener.go (references, starting, configuring),
// sink.go (the pipelined Write stream), source.go, transform.go, process.go
// (crashes and stderr), manifest.go; then plugins/proto/plugin.proto and
// plugins/sdk for the other side, and README.md for plugin authors.
package plugins
