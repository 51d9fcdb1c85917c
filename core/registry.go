package core

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Factory builds one kind of component. New decodes and checks the component's
// config (returning ConfigErrors that point at the pipeline file) and must do no I/O:
// connections are made on first use, or in Checker.Check.
type Factory[T any] struct {
	// Doc is one line saying what the component does, shown by `etl plugins`.
	Doc string
	// Options is a zero value of the component's config struct (not a pointer).
	// Its yaml tags name the options and its `doc` tags describe them; `etl
	// plugins` and the pipeline JSON Schema are generated from it.
	Options any
	// New builds the component.
	New func(ctx context.Context, env Env) (T, error)
}

// Env is what a factory gets to build a component.
type Env struct {
	// Pipeline is the pipeline's name.
	Pipeline string
	// Config is the component's undecoded `config:` section.
	Config Config
	// Logger is the component's logger, already labelled with the component.
	Logger *slog.Logger
	// DeadLetters receives rows the component rejects.
	DeadLetters DeadLetters
	// Mem allocates the component's Arrow memory (memory.DefaultAllocator in a
	// run; a checked allocator in tests).
	Mem memory.Allocator
	// Limiter makes the request-rate limiters of the component's API clients
	// (LocalLimiters unless Build is given WithLimiters). Never nil in a build.
	Limiter Limiters
	// Counters counts the component's named events for the summary and the
	// metrics (shared by the plan's components). Never nil in a build.
	Counters *Counters
}

var registry = struct {
	sync.RWMutex
	sources    map[string]Factory[Source]
	transforms map[string]Factory[Transform]
	sinks      map[string]Factory[Sink]
}{
	sources:    map[string]Factory[Source]{},
	transforms: map[string]Factory[Transform]{},
	sinks:      map[string]Factory[Sink]{},
}

// RegisterSource makes a source available under name. It panics if name is empty,
// already taken, or f has no New, like database/sql.Register.
func RegisterSource(name string, f Factory[Source]) { register("Source", registry.sources, name, f) }

// RegisterTransform makes a transform available under name; it panics like RegisterSource.
func RegisterTransform(name string, f Factory[Transform]) {
	register("Transform", registry.transforms, name, f)
}

// RegisterSink makes a sink available under name; it panics like RegisterSource.
func RegisterSink(name string, f Factory[Sink]) { register("Sink", registry.sinks, name, f) }

func register[T any](kind string, m map[string]Factory[T], name string, f Factory[T]) {
	registry.Lock()
	defer registry.Unlock()
	if name == "" {
		panic("core: Register" + kind + " with an empty name")
	}
	if f.New == nil {
		panic(fmt.Sprintf("core: Register%s %q without New", kind, name))
	}
	if _, dup := m[name]; dup {
		panic(fmt.Sprintf("core: Register%s called twice for %q", kind, name))
	}
	m[name] = f
}

func lookup[T any](m map[string]Factory[T], name string) (Factory[T], bool) {
	registry.RLock()
	defer registry.RUnlock()
	f, ok := m[name]
	return f, ok
}

func names[T any](m map[string]Factory[T]) []string {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Sources returns the registered source names, sorted.
func Sources() []string { return names(registry.sources) }

// Transforms returns the registered transform names, sorted.
func Transforms() []string { return names(registry.transforms) }

// Sinks returns the registered sink names, sorted.
func Sinks() []string { return names(registry.sinks) }

// LookupSource returns the factory registered under name.
func LookupSource(name string) (Factory[Source], bool) { return lookup(registry.sources, name) }

// LookupTransform returns the factory registered under name.
func LookupTransform(name string) (Factory[Transform], bool) {
	return lookup(registry.transforms, name)
}

// LookupSink returns the factory registered under name.
func LookupSink(name string) (Factory[Sink], bool) { return lookup(registry.sinks, name) }
