package plugins

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/plugins/internal/wire"
	pb "github.com/etl-toolkit/etl/plugins/proto"
)

// Spec is what a plugin says about itself, for `etl plugins`.
type Spec struct {
	// Ref is the reference it was described by (a name, a path, builtin:NAME).
	Ref     string
	Name    string
	Version string
	// Components lists what it serves, in the order source, transform, sink.
	Components []ComponentSpec
}

// ComponentSpec describes one component a plugin serves.
type ComponentSpec struct {
	// Kind is "source", "transform" or "sink".
	Kind string
	// Doc is one line saying what it does.
	Doc string
	// Options is its config schema, as core.Options lists a built-in's.
	Options []core.Option
}

// Describe starts the plugin ref names (see Opener), asks it what it serves,
// and stops it.
func (o *Opener) Describe(ctx context.Context, ref string, log *slog.Logger) (Spec, error) {
	t, err := o.resolve(ref)
	if err != nil {
		return Spec{}, err
	}
	// Any kind will do to start the process: every service is on its connection.
	p, err := o.start(t, log, wire.KindSink)
	if err != nil {
		return Spec{}, err
	}
	defer p.kill()
	s := Spec{Ref: ref}
	for _, kind := range wire.Kinds {
		var resp *pb.SpecResponse
		var err error
		switch kind {
		case wire.KindSource:
			resp, err = pb.NewSourceClient(p.conn.Conn).Spec(ctx, &pb.SpecRequest{})
		case wire.KindTransform:
			resp, err = pb.NewTransformClient(p.conn.Conn).Spec(ctx, &pb.SpecRequest{})
		case wire.KindSink:
			resp, err = pb.NewSinkClient(p.conn.Conn).Spec(ctx, &pb.SpecRequest{})
		}
		if err != nil {
			continue // the plugin does not serve this kind
		}
		s.Name, s.Version = resp.Name, resp.Version
		c := ComponentSpec{Kind: kind, Doc: resp.Doc}
		for _, o := range resp.Options {
			c.Options = append(c.Options, core.Option{Name: o.Name, Type: o.Type, Doc: o.Doc, Default: o.Default})
		}
		s.Components = append(s.Components, c)
	}
	if len(s.Components) == 0 {
		return Spec{}, fmt.Errorf("plugins: %s serves no source, transform or sink", p.name)
	}
	return s, nil
}

// List describes every plugin of the plugins directory's manifest, sorted by
// name. A directory without a manifest has no plugins. A plugin that cannot
// be described (it fails its checksum, say) is listed with its error.
func (o *Opener) List(ctx context.Context, log *slog.Logger) ([]Spec, []error, error) {
	m, err := ReadManifest(o.dir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, 0, len(m.Plugins))
	for n := range m.Plugins {
		names = append(names, n)
	}
	sort.Strings(names)
	specs := make([]Spec, len(names))
	errs := make([]error, len(names))
	for i, n := range names {
		specs[i], errs[i] = o.Describe(ctx, n, log)
		specs[i].Ref = n
	}
	return specs, errs, nil
}
