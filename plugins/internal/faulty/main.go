// Command faulty is a plugin for the plugins package's own tests: it serves a
// source, a transform and a sink that wrap etl's built-ins (generate, csv,
// discard) and misbehave on request (crash, slow down, fail with an error of a
// given kind, reject rows, log), so that the tests can check what the host
// does about it with a real process.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/plugins/sdk"
	_ "github.com/etl-toolkit/etl/sinks/csv"
	_ "github.com/etl-toolkit/etl/sinks/discard"
	_ "github.com/etl-toolkit/etl/sources/generate"
)

func main() {
	sdk.Serve(sdk.Plugin{
		Name:      "faulty",
		Version:   "v0.0.1-test",
		Source:    &core.Factory[core.Source]{Doc: "generate, failing on request", Options: sourceConfig{}, New: newSource},
		Transform: &core.Factory[core.Transform]{Doc: "passes batches through, rejecting rows on request", Options: transformConfig{}, New: newTransform},
		Sink:      &core.Factory[core.Sink]{Doc: "csv or discard, crashing, slowing or failing on request", Options: sinkConfig{}, New: newSink},
	})
}

// failure makes the error a knob asks for.
func failure(kind string, wait time.Duration, msg string) error {
	err := errors.New("faulty: " + msg)
	if kind == "transient" {
		return core.Transient(err, wait)
	}
	return err
}

func checkKind(cfg core.Config, key, kind string) error {
	switch kind {
	case "", "transient", "permanent":
		return nil
	}
	return cfg.Errorf(key, "unknown value %q (want transient or permanent)", kind)
}

type sinkConfig struct {
	Inner            string        `yaml:"inner" doc:"the built-in sink wrapped: csv or discard" default:"discard"`
	Config           core.Config   `yaml:"config" doc:"the wrapped sink's config"`
	PanicAfterWrites int           `yaml:"panic_after_writes" doc:"panic in this Write (1 is the first; 0: never)"`
	OnceFile         string        `yaml:"once_file" doc:"panic only if this file does not exist, and create it first"`
	WriteDelay       time.Duration `yaml:"write_delay" doc:"sleep this long in every Write"`
	FailWrite        string        `yaml:"fail_write" doc:"fail the first Write: transient or permanent"`
	RetryAfter       time.Duration `yaml:"retry_after" doc:"the wait of a transient failure"`
}

type sink struct {
	core.Sink
	cfg    sinkConfig
	writes int
}

func newSink(ctx context.Context, env core.Env) (core.Sink, error) {
	cfg := sinkConfig{Inner: "discard"}
	var errs core.ConfigErrors
	errs.Add(env.Config.Decode(&cfg))
	errs.Add(checkKind(env.Config, "fail_write", cfg.FailWrite))
	f, ok := core.LookupSink(cfg.Inner)
	if !ok {
		errs.Add(env.Config.Errorf("inner", "unknown sink %q", cfg.Inner))
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	inner := env
	inner.Config = cfg.Config
	s, err := f.New(ctx, inner)
	if err != nil {
		return nil, err
	}
	return &sink{Sink: s, cfg: cfg}, nil
}

func (s *sink) Write(ctx context.Context, b core.Batch) error {
	s.writes++
	if s.cfg.PanicAfterWrites > 0 && s.writes == s.cfg.PanicAfterWrites {
		if s.cfg.OnceFile == "" {
			panic(fmt.Sprintf("faulty: crash in write %d", s.writes))
		}
		if _, err := os.Stat(s.cfg.OnceFile); errors.Is(err, os.ErrNotExist) {
			if err := os.WriteFile(s.cfg.OnceFile, nil, 0o644); err != nil {
				return err
			}
			panic(fmt.Sprintf("faulty: crash in write %d", s.writes))
		}
	}
	if s.cfg.FailWrite != "" && s.writes == 1 {
		return failure(s.cfg.FailWrite, s.cfg.RetryAfter, "write failed on request")
	}
	time.Sleep(s.cfg.WriteDelay)
	return s.Sink.Write(ctx, b)
}

// The wrapped sink's optional interfaces, passed on.

func (s *sink) CommitWanted() bool {
	cr, ok := s.Sink.(core.CommitRequester)
	return ok && cr.CommitWanted()
}

func (s *sink) Committed() int64 {
	if st, ok := s.Sink.(core.SinkStats); ok {
		return st.Committed()
	}
	return 0
}

func (s *sink) Location() (string, string) {
	if l, ok := s.Sink.(core.Locator); ok {
		return l.Location()
	}
	return "", ""
}

type sourceConfig struct {
	Generate         core.Config   `yaml:"generate" doc:"the wrapped generate source's config"`
	FailAfterBatches int           `yaml:"fail_after_batches" doc:"fail Read after emitting this many batches (0: never)"`
	Fail             string        `yaml:"fail" doc:"the kind of failure: transient or permanent"`
	RetryAfter       time.Duration `yaml:"retry_after" doc:"the wait of a transient failure"`
	Log              string        `yaml:"log" doc:"log this message at info level from Units"`
}

type source struct {
	core.Source
	cfg sourceConfig
	log *core.Env
}

func newSource(ctx context.Context, env core.Env) (core.Source, error) {
	var cfg sourceConfig
	var errs core.ConfigErrors
	errs.Add(env.Config.Decode(&cfg))
	errs.Add(checkKind(env.Config, "fail", cfg.Fail))
	if err := errs.Err(); err != nil {
		return nil, err
	}
	f, _ := core.LookupSource("generate")
	inner := env
	inner.Config = cfg.Generate
	s, err := f.New(ctx, inner)
	if err != nil {
		return nil, err
	}
	return &source{Source: s, cfg: cfg, log: &env}, nil
}

func (s *source) Units(ctx context.Context) ([]string, error) {
	if s.cfg.Log != "" {
		// PLUGIN_CLIENT_CERT is the host's certificate, given by go-plugin's AutoMTLS.
		s.log.Logger.Info(s.cfg.Log, "answer", 42, "mtls", os.Getenv("PLUGIN_CLIENT_CERT") != "")
	}
	return s.Source.Units(ctx)
}

func (s *source) Read(ctx context.Context, unit string, from core.Position, emit core.Emit) error {
	n := 0
	err := s.Source.Read(ctx, unit, from, func(ctx context.Context, b core.Batch) error {
		if s.cfg.FailAfterBatches > 0 && n == s.cfg.FailAfterBatches {
			b.Release()
			return failure(s.cfg.Fail, s.cfg.RetryAfter, "read failed on request")
		}
		n++
		return emit(ctx, b)
	})
	return err
}

type transformConfig struct {
	RejectFirst bool `yaml:"reject_first" doc:"dead-letter the first row of every batch"`
}

type transform struct {
	cfg  transformConfig
	dead core.DeadLetters
}

func newTransform(_ context.Context, env core.Env) (core.Transform, error) {
	var cfg transformConfig
	if err := env.Config.Decode(&cfg); err != nil {
		return nil, err
	}
	if cfg.RejectFirst && env.DeadLetters == nil {
		return nil, env.Config.Errorf("reject_first", "needs a dead-letter output")
	}
	return &transform{cfg: cfg, dead: env.DeadLetters}, nil
}

func (t *transform) Apply(ctx context.Context, in core.Batch, emit core.Emit) error {
	if !t.cfg.RejectFirst || in.Rows() == 0 {
		return emit(ctx, in)
	}
	if err := t.dead.Reject(ctx, core.DeadLetter{
		Stream: in.Stream, Unit: in.Unit, Component: "faulty", Reason: "first row of its batch", Value: core.RowJSON(in.Record, 0),
	}); err != nil {
		in.Release()
		return err
	}
	out := in
	out.Record = in.Record.NewSlice(1, in.Record.NumRows())
	in.Release()
	return emit(ctx, out)
}

func (t *transform) Flush(context.Context, string, core.Emit) error { return nil }
func (t *transform) Close() error                                   { return nil }
