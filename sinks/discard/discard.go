// Package discard is the `discard` sink: it accepts every batch and keeps nothing.
// It measures a source and the runner without any output cost (benchmarks, dry
// tries of a new source) and, since nothing is ever visible, every commit is empty.
package discard

import (
	"context"

	"github.com/etl-toolkit/etl/core"
)

// Config has no options.
type Config struct{}

func init() {
	core.RegisterSink("discard", core.Factory[core.Sink]{
		Doc:     "accept every batch and keep nothing (benchmarks, trying a source)",
		Options: Config{},
		New: func(ctx context.Context, env core.Env) (core.Sink, error) {
			var c Config
			if err := env.Config.Decode(&c); err != nil {
				return nil, err
			}
			return Sink{}, nil
		},
	})
}

// Sink discards everything written to it.
type Sink struct{}

// Write implements core.Sink; the batch is only borrowed, so nothing to release.
func (Sink) Write(ctx context.Context, b core.Batch) error { return nil }

// Prepare implements core.Sink: there is never anything to make visible.
func (Sink) Prepare(ctx context.Context) ([]byte, error) { return nil, nil }

// Commit implements core.Sink.
func (Sink) Commit(ctx context.Context, txn []byte) error { return nil }

// Close implements core.Sink.
func (Sink) Close() error { return nil }
