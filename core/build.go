package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Plan is a pipeline with its components built and ready to run.
type Plan struct {
	Pipeline   *Pipeline
	Source     Source
	Transforms []Transform
	Sinks      []Sink

	logger   *slog.Logger
	dead     *deadLetterFile
	counters *Counters
}

// Counters returns the counters the plan's components add to (see Counters).
func (pl *Plan) Counters() *Counters { return pl.counters }

// BuildOption changes how Build builds a plan.
type BuildOption func(*buildOptions)

type buildOptions struct {
	limiters Limiters
}

// WithLimiters gives every component l to make its request-rate limiters
// instead of LocalLimiters (e.g. a budget shared by scale-out workers).
func WithLimiters(l Limiters) BuildOption {
	return func(o *buildOptions) { o.limiters = l }
}

// Build builds every component of p through its registered factory. It reports
// every problem of every component at once (each factory's ConfigErrors point at
// the pipeline file). Built-in components do no I/O yet; external plugins are
// started (their processes check their own configs). Close the plan when done.
func Build(ctx context.Context, p *Pipeline, logger *slog.Logger, opts ...BuildOption) (*Plan, error) {
	if logger == nil {
		logger = slog.Default()
	}
	bo := buildOptions{limiters: LocalLimiters}
	for _, o := range opts {
		o(&bo)
	}
	pl := &Plan{
		Pipeline: p,
		logger:   logger.With("pipeline", p.Name),
		dead:     &deadLetterFile{path: p.DeadLetterPath(), pipeline: p.Name},
		counters: &Counters{},
	}
	var errs ConfigErrors
	env := func(c Component) Env {
		return Env{
			Pipeline:    p.Name,
			Config:      c.Config,
			Logger:      pl.logger.With("component", c.Path, "plugin", c.Plugin),
			DeadLetters: pl.dead,
			Mem:         memory.DefaultAllocator,
			Limiter:     bo.limiters,
			Counters:    pl.counters,
		}
	}
	ext := getExternal()
	var openSrc func(context.Context, string, Env) (Source, error)
	var openTr func(context.Context, string, Env) (Transform, error)
	var openSink func(context.Context, string, Env) (Sink, error)
	if ext != nil {
		openSrc, openTr, openSink = ext.OpenSource, ext.OpenTransform, ext.OpenSink
	}
	src, err := build(ctx, c2f(p.Source, LookupSource, openSrc), env(p.Source))
	if err != nil {
		errs.Add(err)
	}
	pl.Source = src
	for _, c := range p.Transforms {
		t, err := build(ctx, c2f(c, LookupTransform, openTr), env(c))
		if err != nil {
			errs.Add(err)
		}
		pl.Transforms = append(pl.Transforms, t)
	}
	for _, c := range p.Sinks {
		s, err := build(ctx, c2f(c, LookupSink, openSink), env(c))
		if err != nil {
			errs.Add(err)
		}
		pl.Sinks = append(pl.Sinks, s)
	}
	if err := errs.Err(); err != nil {
		pl.Close()
		return nil, err
	}
	return pl, nil
}

type lookedUp[T any] struct {
	c Component
	f Factory[T]
	// found is false for a name the registry does not know.
	found bool
	// open opens external plugins; nil when no opener is installed.
	open func(context.Context, string, Env) (T, error)
}

func c2f[T any](c Component, lookup func(string) (Factory[T], bool), open func(context.Context, string, Env) (T, error)) lookedUp[T] {
	f, ok := lookup(c.Plugin)
	return lookedUp[T]{c: c, f: f, found: ok, open: open}
}

func build[T any](ctx context.Context, l lookedUp[T], env Env) (T, error) {
	var zero T
	var v T
	var err error
	switch ref, external := strings.CutPrefix(l.c.Plugin, ExternalPrefix); {
	case external && l.open != nil:
		v, err = l.open(ctx, ref, env)
	case external:
		return zero, l.c.Config.Errorf("", "%s: this build of etl cannot run external plugins", l.c.Plugin)
	case !l.found:
		return zero, l.c.Config.Errorf("", "plugin %q is not registered", l.c.Plugin)
	default:
		v, err = l.f.New(ctx, env)
	}
	if err != nil {
		var ce *ConfigError
		var ces ConfigErrors
		if errors.As(err, &ce) || errors.As(err, &ces) {
			return zero, err
		}
		return zero, fmt.Errorf("%s (%s): %w", l.c.Path, l.c.Plugin, err)
	}
	return v, nil
}

// Check calls Check on every component that implements Checker, and reports all
// failures together.
func (pl *Plan) Check(ctx context.Context) error {
	var errs []error
	check := func(path string, v any) {
		if c, ok := v.(Checker); ok {
			if err := c.Check(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", path, err))
			}
		}
	}
	check(pl.Pipeline.Source.Path, pl.Source)
	for i, t := range pl.Transforms {
		check(pl.Pipeline.Transforms[i].Path, t)
	}
	for i, s := range pl.Sinks {
		check(pl.Pipeline.Sinks[i].Path, s)
	}
	return errors.Join(errs...)
}

// Close closes every component that was built and the dead-letter file.
func (pl *Plan) Close() error {
	var errs []error
	if pl.Source != nil {
		errs = append(errs, pl.Source.Close())
	}
	for _, t := range pl.Transforms {
		if t != nil {
			errs = append(errs, t.Close())
		}
	}
	for _, s := range pl.Sinks {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	errs = append(errs, pl.dead.Close())
	return errors.Join(errs...)
}

// StatePath is the bbolt file holding this pipeline's state.
func (p *Pipeline) StatePath() string {
	return filepath.Join(p.State, p.Name+".db")
}

// DeadLetterPath is where rejected rows go.
func (p *Pipeline) DeadLetterPath() string {
	if p.DeadLetter != "" {
		return p.DeadLetter
	}
	return filepath.Join(p.State, p.Name+".deadletter.jsonl")
}
