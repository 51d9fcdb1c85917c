package sdk_test

import (
	"context"
	"errors"
	"log/slog"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/plugins/sdk"
)

// Config is the example sink's `config:` section, decoded strictly by
// core.Config.Decode: unknown keys and wrong kinds are reported at their line.
type Config struct {
	Table string `yaml:"table" doc:"the table to insert into (required)"`
}

// tableSink counts rows; a real one would talk to its warehouse.
type tableSink struct {
	table string
	log   *slog.Logger
	rows  int64
}

func (s *tableSink) Write(ctx context.Context, b core.Batch) error {
	s.rows += b.Rows() // the batch is only borrowed: Retain b.Record to keep it
	return nil
}

func (s *tableSink) Prepare(ctx context.Context) ([]byte, error) {
	if s.rows == 0 {
		return nil, nil
	}
	// Stage the rows durably, then say how to publish them.
	return []byte(s.table), nil
}

func (s *tableSink) Commit(ctx context.Context, txn []byte) error {
	// Publish the staged rows; called again with the same txn after a crash.
	s.log.Info("committed", "table", string(txn), "rows", s.rows)
	return nil
}

func (s *tableSink) Close() error { return nil }

// A sink plugin's main serves a core.Factory, the same kind that built-ins
// register: New decodes the config section and reports problems with
// core.Config.Errorf, so that etl shows them at their line in the pipeline
// file. A transient error (core.Transient) makes etl retry, as for a
// built-in.
func ExampleServeSink() {
	main := func() {
		sdk.ServeSink("table", core.Factory[core.Sink]{
			Doc:     "inserts rows into a table",
			Options: Config{},
			New: func(ctx context.Context, env core.Env) (core.Sink, error) {
				var cfg Config
				var errs core.ConfigErrors
				errs.Add(env.Config.Decode(&cfg))
				if cfg.Table == "" {
					errs.Add(env.Config.Errorf("table", "required (the table to insert into)"))
				}
				if err := errs.Err(); err != nil {
					return nil, err
				}
				return &tableSink{table: cfg.Table, log: env.Logger}, nil
			},
		})
	}
	_ = main // func main() { ... } in your plugin's package main
}

// A plugin may serve several kinds of component, each one at most once.
func ExampleServe() {
	main := func() {
		sdk.Serve(sdk.Plugin{
			Name:    "warehouse",
			Version: "v1.4.0",
			Source: &core.Factory[core.Source]{
				Doc: "reads rows back from a table",
				New: func(ctx context.Context, env core.Env) (core.Source, error) {
					return nil, errors.New("warehouse: not shown here")
				},
			},
			Sink: &core.Factory[core.Sink]{
				Doc: "inserts rows into a table",
				New: func(ctx context.Context, env core.Env) (core.Sink, error) {
					return &tableSink{log: env.Logger}, nil
				},
			},
		})
	}
	_ = main
}

// etl's own built-ins are served the same way by `etl plugin serve NAME`,
// which a pipeline runs with `plugin: external:builtin:NAME`.
func ExampleBuiltin() {
	main := func() {
		p, err := sdk.Builtin("csv", "")
		if err != nil {
			panic(err) // nothing is registered as csv in this program
		}
		sdk.Serve(p)
	}
	_ = main
}
