package main

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sinks/files"
)

// Config is the sink's `config:` section.
type Config struct {
	Path        string     `yaml:"path" doc:"root directory of the JSON Lines tree (required)"`
	PartitionBy []string   `yaml:"partition_by" doc:"partition keys, outermost first: stream, unit, date, date:COLUMN or a column name (default [stream])"`
	Roll        files.Roll `yaml:"roll" doc:"when to close a file and commit it: rows, bytes (e.g. 128MiB), interval (e.g. 5m) (default: at each commit)"`
}

// Factory builds the sink; main serves it.
var Factory = core.Factory[core.Sink]{
	Doc:     "writes JSON Lines files into a Hive-partitioned directory tree, committed atomically",
	Options: Config{},
	New:     New,
}

// New decodes env.Config onto the defaults and reports every invalid option
// at once, each at its place in the pipeline file. It does no I/O.
func New(_ context.Context, env core.Env) (core.Sink, error) {
	cfg := Config{PartitionBy: []string{"stream"}}
	var errs core.ConfigErrors
	errs.Add(env.Config.Decode(&cfg))
	opts := files.Options{Path: cfg.Path, PartitionBy: cfg.PartitionBy, Roll: cfg.Roll, Mem: env.Mem}
	for _, p := range opts.Problems() {
		errs.Add(env.Config.Errorf(p.Option, "%s", p.Msg))
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	s, err := files.New(opts, Format{})
	if err != nil {
		return nil, fmt.Errorf("jsonl: %w", err)
	}
	return s, nil
}

// Format is JSON Lines as a files.Format.
type Format struct{}

// Ext implements files.Format.
func (Format) Ext() string { return ".jsonl" }

// NewEncoder implements files.Format.
func (Format) NewEncoder(w io.Writer, _ *arrow.Schema) (files.Encoder, error) {
	return &encoder{w: bufio.NewWriterSize(w, 256<<10)}, nil
}

// Query implements files.Querier: DuckDB reads the tree with read_json_auto.
func (Format) Query(glob string) string {
	return fmt.Sprintf("SELECT * FROM read_json_auto('%s', hive_partitioning = true)", glob)
}

type encoder struct{ w *bufio.Writer }

// Encode writes one line per row with Arrow's own JSON encoding.
func (e *encoder) Encode(_ context.Context, rec arrow.RecordBatch) error {
	if err := array.RecordToJSON(rec, e.w); err != nil {
		return fmt.Errorf("jsonl: %w", err)
	}
	return nil
}

// Close flushes the buffered lines; the file itself is the Sink's.
func (e *encoder) Close() error {
	if err := e.w.Flush(); err != nil {
		return fmt.Errorf("jsonl: %w", err)
	}
	return nil
}
