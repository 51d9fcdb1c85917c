package wire

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"
)

// Protocols lists the versions of plugin.proto this build speaks, oldest
// first. go-plugin negotiates the version: a host offers every version it
// knows (VersionedPlugins) and the plugin picks the highest one it also
// serves, so that plugins and hosts of different releases work together as
// long as they share a version; with none in common the host refuses to start
// the plugin.
var Protocols = []int{1, StatusProtocol}

// StatusProtocol is the first version in which a source's Read stream carries
// status reports (BatchChunk.status).
const StatusProtocol = 2

// Handshake is the go-plugin handshake. The cookie only tells a plugin that it
// was started by etl (and not by a person at a shell): it is not a secret.
var Handshake = plugin.HandshakeConfig{
	MagicCookieKey:   "ETL_PLUGIN_COOKIE",
	MagicCookieValue: "e01c4dbf9111d4d4cb67d441212ae764b00d1831bdbb8fd0",
}

// The names under which a plugin serves its components in go-plugin's plugin
// set, and the kinds of component in messages.
const (
	KindSource    = "source"
	KindTransform = "transform"
	KindSink      = "sink"
)

// Kinds lists the kinds in the order messages name them.
var Kinds = []string{KindSource, KindTransform, KindSink}

// LogLevelEnv is the environment variable in which the host tells a plugin the
// lowest level it logs ("debug", "info", "warn", "error").
const LogLevelEnv = "ETL_PLUGIN_LOG_LEVEL"

// Plugin is a go-plugin GRPCPlugin whose halves are filled in by the side that
// uses it: the plugin sets Register to register its services, the host sets
// Wrap to wrap the connection. go-plugin wants both on one type.
type Plugin struct {
	plugin.NetRPCUnsupportedPlugin
	Register func(*plugin.GRPCBroker, *grpc.Server) error
	Wrap     func(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error)
}

var _ plugin.GRPCPlugin = (*Plugin)(nil)

// GRPCServer implements plugin.GRPCPlugin.
func (p *Plugin) GRPCServer(b *plugin.GRPCBroker, s *grpc.Server) error { return p.Register(b, s) }

// GRPCClient implements plugin.GRPCPlugin.
func (p *Plugin) GRPCClient(ctx context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return p.Wrap(ctx, b, c)
}

// Conn is what the host's Client half returns from Dispense: the connection to
// the plugin process and its broker.
type Conn struct {
	Conn   *grpc.ClientConn
	Broker *plugin.GRPCBroker
}

// ClientSet returns the host's plugin set: every kind, each dispensing a Conn.
func ClientSet() plugin.PluginSet {
	set := plugin.PluginSet{}
	for _, k := range Kinds {
		set[k] = &Plugin{Wrap: func(_ context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
			return &Conn{Conn: c, Broker: b}, nil
		}}
	}
	return set
}

// Flow-control windows of both ends' gRPC connections. Fixed windows (which
// turn off gRPC's bandwidth-delay estimation, which may grow them to 16 MiB)
// bound what a connection buffers when one side reads slower than the other
// writes.
const (
	StreamWindow = 4 << 20
	ConnWindow   = 8 << 20
)

// WriteBuffer is the size of both ends' gRPC write buffers, in which HTTP/2
// frames gather before they go to TLS. gRPC's default, 32 KiB, hands TLS two
// records' worth at a time; 256 KiB took an eighth off the CPU time of both
// sides moving batches (BenchmarkSink/external:builtin:discard: etl 0.074 to
// 0.065 s per M rows, the plugin 0.064 to 0.055 s); 1 MiB did no better.
const WriteBuffer = 256 << 10

// DialOptions are the options of the host's connection to a plugin: the
// flow-control windows, Codec for every call, and framePool.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithInitialWindowSize(StreamWindow),
		grpc.WithInitialConnWindowSize(ConnWindow),
		grpc.WithDefaultCallOptions(CallOption()),
		experimental.WithBufferPool(framePool),
		grpc.WithWriteBufferSize(WriteBuffer),
	}
}

// ServerOptions are the options of a plugin's gRPC server: the flow-control
// windows, Codec, and framePool.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.InitialWindowSize(StreamWindow), grpc.InitialConnWindowSize(ConnWindow), ServerOption(), experimental.BufferPool(framePool),
		grpc.WriteBufferSize(WriteBuffer)}
}
