package sdk

import (
	"fmt"
	"runtime/debug"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/plugins/internal/server"
)

// Plugin is what a plugin program serves: its name and version, shown by
// `etl plugins`, and up to one component of each kind.
type Plugin struct {
	// Name names the plugin in etl's logs and messages, e.g. "jsonl".
	Name string
	// Version is the plugin's version; "" means the main module's version
	// from the build information (or "devel").
	Version string
	// Source, Transform and Sink are the components served; at least one
	// must be set.
	Source    *core.Factory[core.Source]
	Transform *core.Factory[core.Transform]
	Sink      *core.Factory[core.Sink]
}

// Serve serves p to the etl process that started this program, and exits the
// program when etl is done with it; it never returns. Run by hand rather than
// by etl, the program says so and exits with status 1. An invalid p (no name,
// no component) exits with status 2.
func Serve(p Plugin) {
	if p.Version == "" {
		p.Version = buildVersion()
	}
	server.Serve(server.Plugin{Name: p.Name, Version: p.Version, Source: p.Source, Transform: p.Transform, Sink: p.Sink})
}

// ServeSource serves a plugin named name whose only component is the source f
// builds; it never returns.
func ServeSource(name string, f core.Factory[core.Source]) { Serve(Plugin{Name: name, Source: &f}) }

// ServeTransform serves a plugin named name whose only component is the
// transform f builds; it never returns.
func ServeTransform(name string, f core.Factory[core.Transform]) {
	Serve(Plugin{Name: name, Transform: &f})
}

// ServeSink serves a plugin named name whose only component is the sink f
// builds; it never returns.
func ServeSink(name string, f core.Factory[core.Sink]) { Serve(Plugin{Name: name, Sink: &f}) }

// Builtin returns a Plugin serving the components registered in core under
// name (a source, a transform, a sink, or several of them), for running a
// built-in in a process of its own (`etl plugin serve NAME`). It fails if
// nothing is registered under name.
func Builtin(name, version string) (Plugin, error) {
	p := Plugin{Name: name, Version: version}
	if f, ok := core.LookupSource(name); ok {
		p.Source = &f
	}
	if f, ok := core.LookupTransform(name); ok {
		p.Transform = &f
	}
	if f, ok := core.LookupSink(name); ok {
		p.Sink = &f
	}
	if p.Source == nil && p.Transform == nil && p.Sink == nil {
		return Plugin{}, fmt.Errorf("sdk: no built-in source, transform or sink is registered as %q (sources: %v, transforms: %v, sinks: %v)",
			name, core.Sources(), core.Transforms(), core.Sinks())
	}
	if p.Version == "" {
		p.Version = buildVersion()
	}
	return p, nil
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
