package siunits

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
)

func init() {
	core.RegisterTransform("si_units", core.Factory[core.Transform]{
		Doc:     "converts measurements to SI units (catalogue of the Azumio and ASI fields, per-field overrides) and records each field's unit in its metadata",
		Options: Config{},
		New:     newFromEnv,
	})
}

// newFromEnv is the plugin's factory: it decodes the config section onto
// DefaultConfig and reports every problem at once as core.ConfigErrors, each at
// its place in the pipeline file.
func newFromEnv(_ context.Context, env core.Env) (core.Transform, error) {
	cfg := DefaultConfig()
	var errs core.ConfigErrors
	errs.Add(env.Config.Decode(&cfg))
	decoded := len(errs)
	ck, problems := cfg.check(func(key, format string, args ...any) error {
		return env.Config.Errorf(key, format, args...)
	})
	for _, err := range problems {
		// A value Decode could not read is reported once, by Decode.
		if !slices.ContainsFunc(errs[:decoded], func(e *core.ConfigError) bool { return e.Path == err.(*core.ConfigError).Path }) {
			errs.Add(err)
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return newTransform(ck, env.Mem, env.Logger), nil
}

// Transform converts the measurements of every batch to SI units; see the
// package documentation for what it does to each field. It holds no rows: each
// Apply emits exactly one batch, with the input's stream, unit and position.
type Transform struct {
	ck  *checked
	mem memory.Allocator
	log *slog.Logger

	mu    sync.Mutex
	plans map[string][]*plan // by stream, most recently built last
}

var _ core.Transform = (*Transform)(nil)

// maxPlans bounds the schemas remembered per stream; a stream whose schema
// keeps changing rebuilds its plans instead of growing the cache.
const maxPlans = 16

// New checks cfg and builds a transform whose converted arrays are allocated
// from mem (memory.DefaultAllocator if nil) and whose warnings (a field whose
// unit metadata names an unknown unit) go to logger (nowhere if nil). It
// returns every problem of cfg at once, joined.
func New(cfg Config, mem memory.Allocator, logger *slog.Logger) (*Transform, error) {
	ck, errs := cfg.check(func(key, format string, args ...any) error {
		return fmt.Errorf("siunits: "+key+": "+format, args...)
	})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	return newTransform(ck, mem, logger), nil
}

func newTransform(ck *checked, mem memory.Allocator, logger *slog.Logger) *Transform {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Transform{ck: ck, mem: mem, log: logger, plans: map[string][]*plan{}}
}

// Apply converts in and emits the result with in's stream, unit and position
// (ownership of in's record passes to emit either way). A batch of a stream
// left out by the streams option, or with nothing to convert, is emitted as it
// is. An error (a field whose unit metadata contradicts a per-field override,
// a rename that collides with another column) fails the batch: in is released
// and nothing is emitted.
func (t *Transform) Apply(ctx context.Context, in core.Batch, emit core.Emit) error {
	if in.Record == nil || !t.selected(in.Stream) {
		return emit(ctx, in)
	}
	p, err := t.plan(in.Stream, in.Record.Schema())
	if err != nil {
		in.Release()
		return err
	}
	if p.same {
		return emit(ctx, in)
	}
	out, err := p.apply(t.mem, in.Record)
	in.Release()
	if err != nil {
		return fmt.Errorf("siunits: stream %s: %w", in.Stream, err)
	}
	in.Record = out
	return emit(ctx, in)
}

// Flush emits nothing: the transform holds no rows.
func (t *Transform) Flush(context.Context, string, core.Emit) error { return nil }

// Close forgets the plans; it holds no Arrow memory.
func (t *Transform) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.plans = map[string][]*plan{}
	return nil
}

// Schema returns the schema that records of stream with schema in have after
// the transform, e.g. to show a user what a pipeline writes.
func (t *Transform) Schema(stream string, in *arrow.Schema) (*arrow.Schema, error) {
	if !t.selected(stream) {
		return in, nil
	}
	p, err := t.plan(stream, in)
	if err != nil {
		return nil, err
	}
	return p.out, nil
}

func (t *Transform) selected(stream string) bool {
	if len(t.ck.cfg.Streams) == 0 {
		return true
	}
	return slices.ContainsFunc(t.ck.cfg.Streams, func(p string) bool { return match(p, stream) })
}

// plan returns the plan for records of stream with the given schema, building
// it (and logging its warnings) the first time the schema is seen.
func (t *Transform) plan(stream string, schema *arrow.Schema) (*plan, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cached := t.plans[stream]
	for _, p := range slices.Backward(cached) {
		if p.in == schema || (p.in.Equal(schema) && p.in.Metadata().Equal(schema.Metadata())) {
			return p, nil
		}
	}
	p, warnings, err := newPlan(t.ck, stream, schema)
	for _, w := range warnings {
		t.log.Warn("si_units: "+w, "stream", stream)
	}
	if err != nil {
		return nil, fmt.Errorf("siunits: stream %s: %w", stream, err)
	}
	if len(cached) >= maxPlans {
		cached = slices.Delete(cached, 0, 1)
	}
	t.plans[stream] = append(cached, p)
	return p, nil
}
