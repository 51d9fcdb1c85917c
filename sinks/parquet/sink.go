package parquet

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sinks/files"
)

func init() {
	core.RegisterSink("parquet", core.Factory[core.Sink]{
		Doc:     "writes Parquet files (zstd by default) into a Hive-partitioned directory tree, committed atomically",
		Options: Config{},
		New:     New,
	})
}

// New is the `parquet` sink's factory: it decodes env.Config on top of
// DefaultConfig, reports every invalid option at once as core.ConfigErrors
// pointing at the pipeline file, and returns a files.Sink writing Parquet. It
// does no I/O.
func New(_ context.Context, env core.Env) (core.Sink, error) {
	cfg := DefaultConfig()
	if err := env.Config.Decode(&cfg); err != nil {
		return nil, err
	}
	if err := files.ConfigErrors(env.Config, cfg.allProblems()); err != nil {
		return nil, err
	}
	return NewSink(cfg, env.Mem)
}

// NewSink returns a files.Sink writing cfg's Parquet files under cfg.Path,
// with mem for the copies made when splitting batches by partition (nil: the
// default allocator). When roll.bytes is below row_group_bytes, row groups
// are cut at roll.bytes, since a file grows by whole row groups. It fails with
// every invalid option (see Config.Problems and files.Options.Problems). It
// does no I/O.
func NewSink(cfg Config, mem memory.Allocator) (*files.Sink, error) {
	if ps := cfg.allProblems(); len(ps) > 0 {
		errs := make([]error, len(ps))
		for i, p := range ps {
			errs[i] = fmt.Errorf("parquet: %s: %s", p.Option, p.Msg)
		}
		return nil, errors.Join(errs...)
	}
	fcfg := cfg
	if cfg.Roll.Bytes > 0 && cfg.Roll.Bytes < cfg.RowGroupBytes {
		// A file grows a row group at a time: row groups no larger than
		// roll.bytes let files roll near that size.
		fcfg.RowGroupBytes = max(minRowGroupBytes, cfg.Roll.Bytes)
	}
	f, err := NewFormat(fcfg)
	if err != nil {
		return nil, err
	}
	if mem != nil {
		f.mem = mem
	}
	opts := cfg.filesOptions()
	opts.Mem = mem
	return files.New(opts, f)
}

func (c Config) filesOptions() files.Options {
	return files.Options{Path: c.Path, PartitionBy: c.PartitionBy, Roll: c.Roll}
}

// allProblems is every problem of c: the file tree's and the files'.
func (c Config) allProblems() []Problem {
	return append(c.filesOptions().Problems(), c.Problems()...)
}
