package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/plugins/internal/wire"
	pb "github.com/etl-toolkit/etl/plugins/proto"
)

// Plugin is what one plugin program serves.
type Plugin struct {
	// Name and Version are what `etl plugins` shows.
	Name    string
	Version string
	// The components served; at least one must be set.
	Source    *core.Factory[core.Source]
	Transform *core.Factory[core.Transform]
	Sink      *core.Factory[core.Sink]
	// Protocols are the protocol versions served; nil means every version
	// this build speaks (wire.Protocols).
	Protocols []int
}

// Check reports a Plugin that cannot be served.
func (p Plugin) Check() error {
	switch {
	case p.Name == "":
		return errors.New("sdk: the plugin has no name")
	case p.Source == nil && p.Transform == nil && p.Sink == nil:
		return fmt.Errorf("sdk: plugin %q serves no source, transform or sink", p.Name)
	case p.Source != nil && p.Source.New == nil, p.Transform != nil && p.Transform.New == nil, p.Sink != nil && p.Sink.New == nil:
		return fmt.Errorf("sdk: plugin %q has a factory without New", p.Name)
	}
	return nil
}

// Serve serves p over go-plugin until the host is done with it, then exits the
// process. Started by hand (not by etl), it prints what it is and exits with
// status 1.
func Serve(p Plugin) {
	if err := p.Check(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	go exitWithParent(os.Getppid(), 500*time.Millisecond)
	stderr := os.Stderr // go-plugin replaces os.Stderr by a pipe; logs go to the real one
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: versions(p, stderr),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, wire.ServerOptions()...)...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: p.Name, Output: stderr, JSONFormat: true, Level: hclog.Warn,
		}),
	})
	// A CPU profile the program started (the plugins tests' profile of a
	// served plugin) is complete only once stopped; without one this does
	// nothing.
	pprof.StopCPUProfile()
	os.Exit(0)
}

// exitWithParent ends the process once its parent (etl) is gone: go-plugin
// leaves a plugin running when its host dies without stopping it (killed, or
// crashed), and nothing else would ever talk to it again. A process whose
// parent dies is given another parent (init, or a subreaper), which is what
// this notices.
func exitWithParent(ppid int, every time.Duration) {
	if ppid <= 1 {
		return // started by init or a subreaper: nothing to watch
	}
	for range time.Tick(every) {
		if os.Getppid() != ppid {
			os.Exit(3)
		}
	}
}

// versions returns the plugin sets of the protocol versions p serves.
func versions(p Plugin, stderr io.Writer) map[int]plugin.PluginSet {
	protocols := p.Protocols
	if protocols == nil {
		protocols = wire.Protocols
	}
	sets := map[int]plugin.PluginSet{}
	for _, v := range protocols {
		sets[v] = Set(p, stderr, v)
	}
	return sets
}

// Set returns the go-plugin plugin set that serves p's components in protocol
// version protocol. Their loggers write hclog-style JSON lines to stderr,
// which the host reads back.
func Set(p Plugin, stderr io.Writer, protocol int) plugin.PluginSet {
	set := plugin.PluginSet{}
	level := logLevel(os.Getenv(wire.LogLevelEnv))
	base := func(kind, doc string, options any) component {
		return component{plugin: p, kind: kind, doc: doc, options: options, stderr: stderr, level: level}
	}
	if f := p.Source; f != nil {
		set[wire.KindSource] = &wire.Plugin{Register: func(b *plugin.GRPCBroker, s *grpc.Server) error {
			pb.RegisterSourceServer(s, &sourceServer{component: base(wire.KindSource, f.Doc, f.Options), factory: *f, broker: b,
				statuses: protocol >= wire.StatusProtocol})
			return nil
		}}
	}
	if f := p.Transform; f != nil {
		set[wire.KindTransform] = &wire.Plugin{Register: func(b *plugin.GRPCBroker, s *grpc.Server) error {
			pb.RegisterTransformServer(s, &transformServer{component: base(wire.KindTransform, f.Doc, f.Options), factory: *f, broker: b})
			return nil
		}}
	}
	if f := p.Sink; f != nil {
		set[wire.KindSink] = &wire.Plugin{Register: func(b *plugin.GRPCBroker, s *grpc.Server) error {
			pb.RegisterSinkServer(s, &sinkServer{component: base(wire.KindSink, f.Doc, f.Options), factory: *f, broker: b})
			return nil
		}}
	}
	return set
}

// component is what every service shares: the spec, and the environment a
// factory builds the component in.
type component struct {
	plugin  Plugin
	kind    string
	doc     string
	options any
	stderr  io.Writer
	level   slog.Level

	mu     sync.Mutex
	dlConn *grpc.ClientConn // the host's dead-letter service, once configured
}

func (c *component) spec() *pb.SpecResponse {
	s := &pb.SpecResponse{Name: c.plugin.Name, Version: c.plugin.Version, Doc: c.doc}
	for _, o := range core.Options(c.options) {
		s.Options = append(s.Options, &pb.Option{Name: o.Name, Type: o.Type, Doc: o.Doc, Default: o.Default})
	}
	return s
}

// env builds the core.Env of a Configure call: the config section as the host
// sent it (errors found decoding it carry its field paths, which the host maps
// to the pipeline file), a logger the host relays, and the host's dead letters.
func (c *component) env(broker *plugin.GRPCBroker, req *pb.ConfigureRequest) (core.Env, error) {
	cfg, err := core.NewConfig(req.File, req.Path, req.Config)
	if err != nil {
		return core.Env{}, err
	}
	env := core.Env{
		Pipeline: req.Pipeline,
		Config:   cfg,
		Logger:   newLogger(c.stderr, c.level),
		Mem:      memory.DefaultAllocator,
	}
	if req.DeadLetters != 0 {
		conn, err := broker.Dial(req.DeadLetters)
		if err != nil {
			return core.Env{}, fmt.Errorf("sdk: connect to the host's dead letters: %w", err)
		}
		c.mu.Lock()
		c.dlConn = conn
		c.mu.Unlock()
		env.DeadLetters = deadLetters{pb.NewDeadLettersClient(conn)}
	}
	return env, nil
}

// configure builds a service's component once, for its Configure call: a second
// Configure is refused (configured is true), a factory error closes the
// dead-letter connection, and every error becomes a gRPC status.
func configure[T any](ctx context.Context, c *component, broker *plugin.GRPCBroker, req *pb.ConfigureRequest,
	f core.Factory[T], configured bool) (T, core.Env, error) {
	var zero T
	if configured {
		return zero, core.Env{}, wire.ToStatus(errConfigured)
	}
	env, err := c.env(broker, req)
	if err != nil {
		return zero, core.Env{}, wire.ToStatus(err)
	}
	v, err := f.New(ctx, env)
	if err != nil {
		c.closeConn()
		return zero, core.Env{}, wire.ToStatus(err)
	}
	return v, env, nil
}

// closeConn closes the dead-letter connection.
func (c *component) closeConn() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dlConn != nil {
		c.dlConn.Close()
		c.dlConn = nil
	}
}

// deadLetters sends rejected rows to the host.
type deadLetters struct{ c pb.DeadLettersClient }

func (d deadLetters) Reject(ctx context.Context, l core.DeadLetter) error {
	_, err := d.c.Reject(ctx, &pb.DeadLetter{Stream: l.Stream, Unit: l.Unit, Component: l.Component, Reason: l.Reason, Value: l.Value})
	if err != nil {
		if remote, ok := wire.FromStatus(err); ok {
			return fmt.Errorf("sdk: dead letter: %w", remote)
		}
		return fmt.Errorf("sdk: dead letter: %w", err)
	}
	return nil
}

var errNotConfigured = errors.New("sdk: the component is not configured (the host calls Configure first)")

var errConfigured = errors.New("sdk: the component is already configured (a plugin process serves one component)")
