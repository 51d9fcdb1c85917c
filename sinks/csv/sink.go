package csv

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sinks/files"
)

func init() {
	core.RegisterSink("csv", core.Factory[core.Sink]{
		Doc:     "writes CSV files (RFC 4180, header row) into a Hive-partitioned directory tree, committed atomically",
		Options: Config{},
		New:     New,
	})
}

// New is the `csv` sink's factory: it decodes env.Config on top of
// DefaultConfig, reports every invalid option at once as core.ConfigErrors
// pointing at the pipeline file, and returns a files.Sink writing CSV. It does
// no I/O.
func New(_ context.Context, env core.Env) (core.Sink, error) {
	cfg := DefaultConfig()
	if err := env.Config.Decode(&cfg); err != nil {
		return nil, err
	}
	if err := files.ConfigErrors(env.Config, cfg.Problems()); err != nil {
		return nil, err
	}
	return NewSink(cfg, env.Mem)
}

// NewSink returns a files.Sink writing cfg's CSV files under cfg.Path, with
// mem for the copies made when splitting batches by partition (nil: the
// default allocator). It fails with every invalid option (see
// Config.Problems). It does no I/O.
func NewSink(cfg Config, mem memory.Allocator) (*files.Sink, error) {
	if err := problemsError(cfg.Problems()); err != nil {
		return nil, err
	}
	f, err := NewFormat(cfg)
	if err != nil {
		return nil, err
	}
	opts := cfg.filesOptions()
	opts.Mem = mem
	return files.New(opts, f)
}
