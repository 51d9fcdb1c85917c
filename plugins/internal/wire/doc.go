// Package wire holds what both ends of etl's plugin protocol share: the
// go-plugin handshake and plugin set, batches as chunked Arrow IPC, and errors
// as gRPC statuses that keep their kind. The host side (package plugins) and
// the plugin side (package server, behind plugins/sdk) are built on it.
package wire
