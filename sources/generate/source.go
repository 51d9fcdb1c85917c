package generate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/time/rate"

	"github.com/etl-toolkit/etl/core"
)

func init() {
	core.RegisterSource("generate", core.Factory[core.Source]{
		Doc:     "deterministic synthetic rows from a seed, for trying sinks, tests and benchmarks",
		Options: Config{},
		New:     newFromEnv,
	})
}

// newFromEnv is the plugin's factory: it decodes the config section onto
// DefaultConfig and reports every problem at once as core.ConfigErrors, each at
// its place in the pipeline file.
func newFromEnv(_ context.Context, env core.Env) (core.Source, error) {
	cfg := DefaultConfig()
	var errs core.ConfigErrors
	errs.Add(env.Config.Decode(&cfg))
	decoded := len(errs)
	for _, err := range cfg.check(func(key, format string, args ...any) error {
		return env.Config.Errorf(key, format, args...)
	}) {
		// A value Decode could not read is reported once, by Decode.
		if !slices.ContainsFunc(errs[:decoded], func(e *core.ConfigError) bool { return e.Path == err.(*core.ConfigError).Path }) {
			errs.Add(err)
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return newSource(cfg, memory.DefaultAllocator), nil
}

// Source generates rows; see the package documentation for what they hold. It is
// immutable once built, so every method is safe for concurrent use.
type Source struct {
	cfg    Config
	mem    memory.Allocator
	schema *arrow.Schema
	cols   []column
	units  []string
	index  map[string]int // unit id -> unit number (0-based)
	batch  int            // rows per batch, after the rate cap
}

var _ core.Source = (*Source)(nil)

// NewSource checks cfg and builds a source whose arrays are allocated from mem
// (memory.DefaultAllocator if nil). Empty cfg.Columns means DefaultColumns. It
// returns every problem of cfg at once, joined.
func NewSource(cfg Config, mem memory.Allocator) (*Source, error) {
	report := func(key, format string, args ...any) error {
		return fmt.Errorf("generate: "+key+": "+format, args...)
	}
	if errs := cfg.check(report); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	return newSource(cfg, mem), nil
}

// newSource builds a source from a checked config.
func newSource(cfg Config, mem memory.Allocator) *Source {
	if len(cfg.Columns) == 0 {
		cfg.Columns = DefaultColumns()
	}
	s := &Source{cfg: cfg, mem: mem, index: make(map[string]int, cfg.Units), batch: cfg.BatchSize}
	fields := []arrow.Field{{Name: unitColumn, Type: arrow.BinaryTypes.String}}
	for _, c := range cfg.Columns {
		col := newColumn(c)
		s.cols = append(s.cols, col)
		fields = append(fields, col.field)
	}
	s.schema = arrow.NewSchema(fields, nil)
	for u := range cfg.Units {
		id := fmt.Sprintf("unit-%04d", u+1)
		s.units = append(s.units, id)
		s.index[id] = u
	}
	if cfg.Rate > 0 && cfg.Rate/10 < float64(s.batch) {
		// A rate-limited batch holds at most a tenth of a second of rows, so
		// that rows arrive steadily like a live feed rather than in bursts.
		s.batch = max(1, int(math.Ceil(cfg.Rate/10)))
	}
	return s
}

// Schema returns the schema of every record the source emits.
func (s *Source) Schema() *arrow.Schema { return s.schema }

// Units returns unit-0001 ... unit-N. It does no I/O and never fails.
func (s *Source) Units(context.Context) ([]string, error) {
	return append([]string(nil), s.units...), nil
}

// Read emits the rows of unit from position from (nil: row 0) in batches of at
// most BatchSize rows, each with the position after its last row, and returns nil
// after the unit's last row (at once if from is at or past it). An endless unit is
// read until ctx is cancelled. With Rate set, Read waits between batches so that
// the unit's rows come at that rate.
//
// Read checks ctx before each batch and while it waits for the rate limiter, and
// then returns an error wrapping ctx.Err(). An error from emit is returned as it
// is, at once. Ownership of every emitted record passes to emit.
func (s *Source) Read(ctx context.Context, unit string, from core.Position, emit core.Emit) error {
	u, ok := s.index[unit]
	if !ok {
		return fmt.Errorf("generate: unknown unit %q (want unit-0001 to %s)", unit, s.units[len(s.units)-1])
	}
	next, err := decodePosition(from)
	if err != nil {
		return fmt.Errorf("generate: unit %s: %w", unit, err)
	}
	var lim *rate.Limiter
	if s.cfg.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(s.cfg.Rate), s.batch)
	}
	end := uint64(s.cfg.Rows)
	for s.cfg.Endless || next < end {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("generate: unit %s: %w", unit, err)
		}
		n := s.batch
		if !s.cfg.Endless {
			n = int(min(uint64(n), end-next))
		}
		if lim != nil {
			if err := wait(ctx, lim, n); err != nil {
				return fmt.Errorf("generate: unit %s: %w", unit, err)
			}
		}
		rec := s.record(u, next, n)
		next += uint64(n)
		if err := emit(ctx, core.Batch{Stream: s.cfg.Stream, Unit: unit, Record: rec, Position: encodePosition(next)}); err != nil {
			return err
		}
	}
	return nil
}

// wait blocks until lim allows n rows or ctx is done. It uses a reservation
// rather than Limiter.WaitN, which fails at once (without ctx.Err) when the
// wait would pass ctx's deadline.
func wait(ctx context.Context, lim *rate.Limiter, n int) error {
	r := lim.ReserveN(time.Now(), n) // n <= burst, so r.OK()
	d := r.Delay()
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return ctx.Err()
	}
}

// record builds rows start..start+n of unit u.
func (s *Source) record(u int, start uint64, n int) arrow.RecordBatch {
	b := batch{mem: s.mem, seed: s.cfg.Seed, unit: u, start: start, n: n}
	cols := make([]arrow.Array, 0, len(s.cols)+1)
	cols = append(cols, b.unitStrings(s.units[u]))
	for i := range s.cols {
		cols = append(cols, b.build(&s.cols[i]))
	}
	rec := array.NewRecordBatch(s.schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// Ack does nothing: every row is computed from the seed, so there is nothing
// held that committed rows would let the source forget.
func (s *Source) Ack(context.Context, string, core.Position) error { return nil }

// Close does nothing: the source holds no resources between reads.
func (s *Source) Close() error { return nil }

// encodePosition returns the position of row index next: 8 big-endian bytes.
func encodePosition(next uint64) core.Position {
	return binary.BigEndian.AppendUint64(make(core.Position, 0, 8), next)
}

// decodePosition is the inverse of encodePosition; nil means row 0.
func decodePosition(p core.Position) (uint64, error) {
	switch len(p) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(p), nil
	}
	return 0, fmt.Errorf("bad position %x (want the 8-byte big-endian index of the next row)", []byte(p))
}
