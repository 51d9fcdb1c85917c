// Package wire holds what both ends of etl's plugin protocol share: the
// go-plugin handshake, protocol versions and plugin set, the gRPC options of
// both ends, batches as chunked Arrow IPC (batch.go) sent and received through
// a gRPC codec that does not copy them (codec.go), the buffer pools that spare
// the garbage collector (pool.go, codec.go), and errors as gRPC statuses that
// keep their kind. The host side (package plugins) and the plugin side
// (package server, behind plugins/sdk) are built on it.
package wire
