package reorder

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
)

func init() {
	core.RegisterTransform("reorder", core.Factory[core.Transform]{
		Doc:     "releases rows in event-time order per key (watermark max_delay or buffer_size rows), with late rows dropped, passed or dead-lettered and exact duplicates dropped",
		Options: Config{},
		New:     newFromEnv,
	})
}

// newFromEnv is the plugin's factory: it decodes the config section onto
// DefaultConfig and reports every problem at once as core.ConfigErrors.
func newFromEnv(_ context.Context, env core.Env) (core.Transform, error) {
	cfg := DefaultConfig()
	var errs core.ConfigErrors
	errs.Add(env.Config.Decode(&cfg))
	if len(errs) == 0 {
		for _, err := range cfg.check(func(key, format string, args ...any) error {
			return env.Config.Errorf(key, format, args...)
		}) {
			errs.Add(err)
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	t := newTransform(cfg, env.Mem, env.Logger, env.DeadLetters)
	t.counters = env.Counters
	return t, nil
}

// Stats counts what the transform did with the rows it was given.
type Stats struct {
	// Released rows went downstream in order (or at once: null event time,
	// streams not reordered).
	Released int64
	// Late rows were older than a row already released for their key; each
	// went the way of the late policy (and, with pass, is also in Released).
	Late int64
	// DeadLettered is the late rows sent to the dead-letter output.
	DeadLettered int64
	// Duplicates were exact copies of a row held or just released, dropped.
	Duplicates int64
	// TimedOut rows were released by flush_timeout, before their watermark.
	TimedOut int64
}

// Transform reorders rows by event time per key; see the package
// documentation. Like every transform it is not safe for concurrent use (the
// runner never calls it concurrently); Stats may be called between calls.
type Transform struct {
	cfg    Config
	unitNS int64
	mem    memory.Allocator
	log    *slog.Logger
	dl     core.DeadLetters

	seq       uint64
	units     map[string]*unitState
	streamMax map[string]int64
	// streamLow is, per stream, no more than the least maxT of its keys
	// holding rows (absent: none holds any), so that Apply scans the keys for
	// flush_timeout only when one may have gone quiet, not at every message.
	streamLow  map[string]int64
	streamKeys map[string][]*keyState // per stream, in order of creation
	stats      Stats

	// live are the units named by LiveUnit; liveKeys their keys, in order of
	// creation; clock reads the wall clock (tests set it).
	live     map[string]bool
	liveKeys []*keyState
	clock    func() time.Time
	// nextDue is no later than the first time a Tick can release rows of a
	// live key (zero: no live key holds rows), so that the ticks before it
	// skip the pass over liveKeys. Apply brings it forward; Tick sets it.
	nextDue time.Time
	// counters get the growth of stats (see report); reported is what they
	// have been given so far.
	counters *core.Counters
	reported Stats
}

var (
	_ core.Transform = (*Transform)(nil)
	_ core.Ticker    = (*Transform)(nil)
)

// New checks cfg and builds a transform whose output arrays come from mem
// (memory.DefaultAllocator if nil), which logs its counts to logger at Close
// (nowhere if nil) and sends late rows to dl (needed with late: dead_letter).
// It returns every problem of cfg at once, joined.
func New(cfg Config, mem memory.Allocator, logger *slog.Logger, dl core.DeadLetters) (*Transform, error) {
	errs := cfg.check(func(key, format string, args ...any) error {
		return fmt.Errorf("reorder: "+key+": "+format, args...)
	})
	if cfg.Late == LateDeadLetter && dl == nil {
		errs = append(errs, errors.New("reorder: late: dead_letter needs a dead-letter output"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return newTransform(cfg, mem, logger, dl), nil
}

func newTransform(cfg Config, mem memory.Allocator, logger *slog.Logger, dl core.DeadLetters) *Transform {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Transform{
		cfg: cfg, unitNS: timeUnits[cfg.TimeUnit], mem: mem, log: logger, dl: dl,
		units: map[string]*unitState{}, streamMax: map[string]int64{}, streamLow: map[string]int64{}, streamKeys: map[string][]*keyState{},
		live: map[string]bool{}, clock: time.Now,
	}
}

// Stats returns the counts so far.
func (t *Transform) Stats() Stats { return t.stats }

// input is one input record and the references to it: the Apply that brought
// it, every held row, every row kept for duplicate checks, every row waiting
// to be copied into an output batch.
type input struct {
	rec    arrow.RecordBatch
	stream string
	refs   int
}

func (in *input) unref() {
	in.refs--
	if in.refs == 0 {
		in.rec.Release()
		in.rec = nil
	}
}

// pending is one input batch of a unit whose position has not gone out yet.
type pending struct {
	stream string
	pos    core.Position
	left   int // rows of it still held
}

type unitState struct {
	name    string
	live    bool // named by LiveUnit
	pending []*pending
	keys    map[string]*keyState
	order   []*keyState // keys in order of creation
	out     []row       // rows released in this call, in order
	ticked  bool        // in the Tick under way's list of units touched
}

type keyState struct {
	unit   *unitState
	stream string
	held   rowHeap
	times  map[int64]int // held rows per event time
	maxT   int64
	seen   bool
	// lastT is the event time of the last row released; lastRows the rows
	// released at lastT, kept for the duplicate check.
	lastT    int64
	released bool
	lastRows []row
	// For a live unit: first and lastIn are the wall-clock times the key's
	// first and last rows arrived; ahead is the greatest event time of a
	// row minus its arrival (measured from first), so that the key's event
	// time at now is taken to be now − first + ahead (see Tick).
	first, lastIn time.Time
	ahead         int64
}

type row struct {
	t    int64
	seq  uint64
	in   *input
	i    int
	p    *pending // nil unless the row was held
	held bool
}

type rowHeap []row

func (h rowHeap) Len() int { return len(h) }
func (h rowHeap) Less(i, j int) bool {
	if h[i].t != h[j].t {
		return h[i].t < h[j].t
	}
	return h[i].seq < h[j].seq
}
func (h rowHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *rowHeap) Push(x any)   { *h = append(*h, x.(row)) }
func (h *rowHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}

func (t *Transform) unit(name string) *unitState {
	u := t.units[name]
	if u == nil {
		u = &unitState{name: name, keys: map[string]*keyState{}, live: t.live[name]}
		t.units[name] = u
	}
	return u
}

func (t *Transform) matches(stream string) bool {
	if len(t.cfg.Streams) == 0 {
		return true
	}
	return slices.ContainsFunc(t.cfg.Streams, func(p string) bool { ok, _ := path.Match(p, stream); return ok })
}

// Apply implements core.Transform.
func (t *Transform) Apply(ctx context.Context, b core.Batch, emit core.Emit) error {
	defer t.report()
	u := t.unit(b.Unit)
	p := &pending{stream: b.Stream, pos: b.Position}
	if b.Position != nil {
		u.pending = append(u.pending, p)
	}
	if b.Record == nil {
		return t.emitUnits(ctx, []*unitState{u}, emit)
	}
	in := &input{rec: b.Record, stream: b.Stream, refs: 1}
	defer in.unref()
	n := int(b.Record.NumRows())

	times, keys, err := t.columns(b)
	if err != nil {
		return err
	}
	if times == nil {
		// Not reordered: every row goes out at once, in its place.
		for i := range n {
			t.release(u, row{in: in, i: i})
		}
		return t.emitUnits(ctx, []*unitState{u}, emit)
	}
	touched := []*unitState{u}
	var now time.Time // the rows' arrival, for a live unit
	if u.live {
		var ok bool
		if now, ok = core.Arrival(ctx); !ok {
			now = t.clock()
		}
	}
	prefix := b.Stream + "\x00" // once per batch: without key columns, the whole key
	for i := range n {
		ts, ok := times(i)
		if !ok {
			t.release(u, row{in: in, i: i})
			continue
		}
		k := prefix + keys(i)
		ks := u.keys[k]
		if ks == nil {
			ks = &keyState{unit: u, stream: b.Stream, times: map[int64]int{}}
			u.keys[k] = ks
			u.order = append(u.order, ks)
			t.streamKeys[b.Stream] = append(t.streamKeys[b.Stream], ks)
			if u.live {
				t.liveKeys = append(t.liveKeys, ks)
			}
		}
		t.seq++
		r := row{t: ts, seq: t.seq, in: in, i: i}
		if ks.released && ts < ks.lastT {
			if err := t.late(ctx, b, ks, r); err != nil {
				return err
			}
			continue
		}
		if t.duplicate(ks, r) {
			t.stats.Duplicates++
			continue
		}
		r.p, r.held = p, true
		p.left++
		in.refs++
		heap.Push(&ks.held, r)
		ks.times[ts]++
		if u.live {
			if ks.first.IsZero() {
				ks.first, ks.ahead = now, ts
			}
			ks.ahead = max(ks.ahead, ts-int64(now.Sub(ks.first)))
			ks.lastIn = now
		}
		if !ks.seen || ts > ks.maxT {
			ks.maxT, ks.seen = ts, true
		}
		if m, ok := t.streamMax[b.Stream]; !ok || ts > m {
			t.streamMax[b.Stream] = ts
		}
		if low, ok := t.streamLow[b.Stream]; !ok || ks.maxT < low {
			t.streamLow[b.Stream] = ks.maxT
		}
		if t.cfg.BufferSize > 0 {
			for ks.held.Len() > t.cfg.BufferSize {
				t.releaseKey(ks, heap.Pop(&ks.held).(row))
			}
		} else {
			wm := ks.maxT - int64(t.cfg.MaxDelay)
			for ks.held.Len() > 0 && ks.held[0].t <= wm {
				t.releaseKey(ks, heap.Pop(&ks.held).(row))
			}
		}
		if u.live {
			t.dueBy(ks)
		}
	}
	limit := t.streamMax[b.Stream] - int64(t.cfg.FlushTimeout)
	if low, ok := t.streamLow[b.Stream]; ok && t.cfg.FlushTimeout > 0 && low < limit {
		// A key may have gone quiet: release those that have, and find the
		// least maxT of those still holding rows.
		delete(t.streamLow, b.Stream)
		for _, ks := range t.streamKeys[b.Stream] {
			if ks.held.Len() > 0 && ks.maxT < limit {
				t.stats.TimedOut += int64(ks.held.Len())
				t.drain(ks)
				if !slices.Contains(touched, ks.unit) {
					touched = append(touched, ks.unit)
				}
			}
			if ks.held.Len() > 0 {
				if low, ok := t.streamLow[b.Stream]; !ok || ks.maxT < low {
					t.streamLow[b.Stream] = ks.maxT
				}
			}
		}
	}
	return t.emitUnits(ctx, touched, emit)
}

// late applies the late policy to r.
func (t *Transform) late(ctx context.Context, b core.Batch, ks *keyState, r row) error {
	t.stats.Late++
	switch t.cfg.Late {
	case LatePass:
		t.release(ks.unit, r)
	case LateDeadLetter:
		t.stats.DeadLettered++
		err := t.dl.Reject(ctx, core.DeadLetter{
			Stream: b.Stream, Unit: b.Unit, Component: "reorder",
			Reason: fmt.Sprintf("late: event time %s is older than %s, already released",
				time.Unix(0, r.t).UTC().Format(time.RFC3339Nano), time.Unix(0, ks.lastT).UTC().Format(time.RFC3339Nano)),
			Value: core.RowJSON(r.in.rec, r.i),
		})
		if err != nil {
			return fmt.Errorf("reorder: dead letter: %w", err)
		}
	}
	return nil
}

// duplicate reports whether r has the event time and values of a row held
// for ks or of one of the last rows it released. Rows are only compared when
// their event times are equal, which is rare, so the comparison through JSON
// costs little.
func (t *Transform) duplicate(ks *keyState, r row) bool {
	var same []row
	if ks.times[r.t] > 0 {
		for _, h := range ks.held {
			if h.t == r.t {
				same = append(same, h)
			}
		}
	}
	if ks.released && ks.lastT == r.t {
		same = append(same, ks.lastRows...)
	}
	if len(same) == 0 {
		return false
	}
	v := core.RowJSON(r.in.rec, r.i)
	for _, h := range same {
		if h.in.rec.Schema().Equal(r.in.rec.Schema()) && bytes.Equal(core.RowJSON(h.in.rec, h.i), v) {
			return true
		}
	}
	return false
}

// releaseKey releases r, just taken from the buffer of ks.
func (t *Transform) releaseKey(ks *keyState, r row) {
	ks.times[r.t]--
	if ks.times[r.t] == 0 {
		delete(ks.times, r.t)
	}
	if !ks.released || r.t != ks.lastT {
		for _, old := range ks.lastRows {
			old.in.unref()
		}
		ks.lastRows = ks.lastRows[:0]
		ks.lastT, ks.released = r.t, true
	}
	r.in.refs++
	ks.lastRows = append(ks.lastRows, r)
	t.release(ks.unit, r)
}

// drain releases every row held for ks, oldest first.
func (t *Transform) drain(ks *keyState) {
	for ks.held.Len() > 0 {
		t.releaseKey(ks, heap.Pop(&ks.held).(row))
	}
}

// release queues r for the unit's next output. A row that was not held gets
// a reference of its own, so that its record outlives the Apply.
func (t *Transform) release(u *unitState, r row) {
	t.stats.Released++
	if !r.held {
		r.in.refs++
	}
	u.out = append(u.out, r)
}

// columns returns how to read the event time and key of each row of b, or nil
// functions when b is not reordered.
func (t *Transform) columns(b core.Batch) (times func(int) (int64, bool), keys func(int) string, err error) {
	if !t.matches(b.Stream) {
		return nil, nil, nil
	}
	schema := b.Record.Schema()
	idx := schema.FieldIndices(t.cfg.Time)
	if len(idx) == 0 {
		return nil, nil, nil
	}
	times, err = eventTimes(b.Record.Column(idx[0]), t.unitNS)
	if err != nil {
		return nil, nil, fmt.Errorf("reorder: stream %s: column %s: %w", b.Stream, t.cfg.Time, err)
	}
	var cols []arrow.Array
	for _, k := range t.cfg.Key {
		ki := schema.FieldIndices(k)
		if len(ki) == 0 {
			return nil, nil, fmt.Errorf("reorder: stream %s has no key column %q", b.Stream, k)
		}
		cols = append(cols, b.Record.Column(ki[0]))
	}
	keys = func(i int) string {
		if len(cols) == 0 {
			return ""
		}
		var sb strings.Builder
		for _, c := range cols {
			if c.IsNull(i) {
				sb.WriteString("\x01null")
			} else {
				sb.WriteString(c.ValueStr(i))
			}
			sb.WriteByte(0x1f)
		}
		return sb.String()
	}
	return times, keys, nil
}

// eventTimes reads a column as nanoseconds since the UNIX epoch; a numeric
// column counts unitNS nanoseconds. Null and NaN read as missing.
func eventTimes(c arrow.Array, unitNS int64) (func(int) (int64, bool), error) {
	switch a := c.(type) {
	case *array.Timestamp:
		mul := int64(a.DataType().(*arrow.TimestampType).Unit.Multiplier())
		return func(i int) (int64, bool) { return int64(a.Value(i)) * mul, a.IsValid(i) }, nil
	case *array.Int64:
		return func(i int) (int64, bool) { return a.Value(i) * unitNS, a.IsValid(i) }, nil
	case *array.Int32:
		return func(i int) (int64, bool) { return int64(a.Value(i)) * unitNS, a.IsValid(i) }, nil
	case *array.Uint64:
		return func(i int) (int64, bool) { return int64(a.Value(i)) * unitNS, a.IsValid(i) }, nil
	case *array.Float64:
		return func(i int) (int64, bool) {
			v := a.Value(i)
			if !a.IsValid(i) || math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, false
			}
			return int64(math.Round(v * float64(unitNS))), true
		}, nil
	case *array.Float32:
		return func(i int) (int64, bool) {
			v := float64(a.Value(i))
			if !a.IsValid(i) || math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, false
			}
			return int64(math.Round(v * float64(unitNS))), true
		}, nil
	}
	return nil, fmt.Errorf("got type %s, want a timestamp, integer or float", c.DataType())
}

// emitUnits emits the rows released for each unit, one batch per run of the
// same stream and schema, and the unit's newest position whose rows are all
// accounted for on its last batch (or alone, in a batch without rows).
func (t *Transform) emitUnits(ctx context.Context, units []*unitState, emit core.Emit) error {
	var batches []core.Batch
	for _, u := range units {
		out := u.out
		u.out = nil
		var pos core.Position
		var posStream string
		// Rows copied out no longer count as held.
		for _, r := range out {
			if r.p != nil {
				r.p.left--
			}
		}
		for len(u.pending) > 0 && u.pending[0].left == 0 {
			pos, posStream = u.pending[0].pos, u.pending[0].stream
			u.pending = u.pending[1:]
		}
		first := len(batches)
		bs, err := t.build(u.name, out)
		for _, r := range out {
			r.in.unref()
		}
		batches = append(batches, bs...)
		if err != nil {
			release(batches)
			return err
		}
		if pos != nil {
			if len(batches) > first {
				batches[len(batches)-1].Position = pos
			} else {
				batches = append(batches, core.Batch{Stream: posStream, Unit: u.name, Position: pos})
			}
		}
	}
	for i, b := range batches {
		if err := emit(ctx, b); err != nil {
			release(batches[i+1:])
			return fmt.Errorf("reorder: %w", err)
		}
	}
	return nil
}

func release(bs []core.Batch) {
	for _, b := range bs {
		b.Release()
	}
}

// build copies rows into batches: grouped by stream in order of first
// appearance, split where the schema changes.
func (t *Transform) build(unit string, rows []row) ([]core.Batch, error) {
	var streams []string
	groups := map[string][]row{}
	for _, r := range rows {
		s := r.in.stream
		if _, ok := groups[s]; !ok {
			streams = append(streams, s)
		}
		groups[s] = append(groups[s], r)
	}
	var out []core.Batch
	for _, s := range streams {
		g := groups[s]
		for len(g) > 0 {
			schema := g[0].in.rec.Schema()
			n := 1
			for n < len(g) && (g[n].in.rec == g[0].in.rec || g[n].in.rec.Schema().Equal(schema)) {
				n++
			}
			rec, err := t.concat(schema, g[:n])
			if err != nil {
				release(out)
				return nil, err
			}
			out = append(out, core.Batch{Stream: s, Unit: unit, Record: rec})
			g = g[n:]
		}
	}
	return out, nil
}

// concat copies rows (all of one schema) into one record, slicing runs of
// consecutive rows of one input record rather than copying row by row.
func (t *Transform) concat(schema *arrow.Schema, rows []row) (arrow.RecordBatch, error) {
	type run struct {
		rec        arrow.RecordBatch
		start, end int
	}
	var runs []run
	for _, r := range rows {
		if n := len(runs); n > 0 && runs[n-1].rec == r.in.rec && runs[n-1].end == r.i {
			runs[n-1].end++
			continue
		}
		runs = append(runs, run{r.in.rec, r.i, r.i + 1})
	}
	if len(runs) == 1 && runs[0].start == 0 && runs[0].end == int(runs[0].rec.NumRows()) {
		runs[0].rec.Retain()
		return runs[0].rec, nil
	}
	slices := make([]arrow.RecordBatch, len(runs))
	for i, r := range runs {
		slices[i] = r.rec.NewSlice(int64(r.start), int64(r.end))
	}
	defer func() {
		for _, s := range slices {
			s.Release()
		}
	}()
	if len(slices) == 1 {
		slices[0].Retain()
		return slices[0], nil
	}
	cols := make([]arrow.Array, schema.NumFields())
	parts := make([]arrow.Array, len(slices))
	for c := range cols {
		for i, s := range slices {
			parts[i] = s.Column(c)
		}
		a, err := array.Concatenate(parts, t.mem)
		if err != nil {
			for _, done := range cols[:c] {
				done.Release()
			}
			return nil, fmt.Errorf("reorder: %w", err)
		}
		cols[c] = a
	}
	defer func() {
		for _, a := range cols {
			a.Release()
		}
	}()
	return array.NewRecordBatch(schema, cols, int64(len(rows))), nil
}

// Flush implements core.Transform: it releases every row held for unit, key
// by key, and emits them with the unit's last position.
func (t *Transform) Flush(ctx context.Context, unit string, emit core.Emit) error {
	defer t.report()
	u := t.units[unit]
	if u == nil {
		return nil
	}
	for _, ks := range u.order {
		t.drain(ks)
	}
	err := t.emitUnits(ctx, []*unitState{u}, emit)
	t.forget(u)
	return err
}

// forget drops the state of a unit whose rows are all released.
func (t *Transform) forget(u *unitState) {
	for _, ks := range u.order {
		for ks.held.Len() > 0 {
			heap.Pop(&ks.held).(row).in.unref()
		}
		for _, r := range ks.lastRows {
			r.in.unref()
		}
		ks.lastRows = nil
		t.streamKeys[ks.stream] = slices.DeleteFunc(t.streamKeys[ks.stream], func(k *keyState) bool { return k == ks })
	}
	if u.live {
		t.liveKeys = slices.DeleteFunc(t.liveKeys, func(k *keyState) bool { return k.unit == u })
	}
	for _, r := range u.out {
		r.in.unref()
	}
	u.out = nil
	delete(t.units, u.name)
}

// LiveUnit implements core.Ticker: the rows of unit may now be released on
// processing time by Tick.
func (t *Transform) LiveUnit(unit string) {
	t.live[unit] = true
	if u := t.units[unit]; u != nil {
		u.live = true
	}
}

// Tick implements core.Ticker: it releases the rows of live units that are
// due at now. A key's event time is taken to run with the wall clock, at the
// pace of its most forward row, so with max_delay a held row is due once
//
//	event time <= now + max over the key's rows of (event time − arrival) − max_delay
//
// which holds at the latest max_delay after the row's own arrival; and with
// flush_timeout a key whose last row arrived flush_timeout or more ago is
// released whole, as on the ASI server.
func (t *Transform) Tick(ctx context.Context, now time.Time, emit core.Emit) error {
	if t.nextDue.IsZero() || now.Before(t.nextDue) {
		return nil // nothing due: most ticks, with messages a second apart
	}
	defer t.report()
	var touched []*unitState
	t.nextDue = time.Time{}
	for _, ks := range t.liveKeys {
		if ks.held.Len() == 0 {
			continue
		}
		n := ks.held.Len()
		if t.cfg.FlushTimeout > 0 && now.Sub(ks.lastIn) >= t.cfg.FlushTimeout {
			t.stats.TimedOut += int64(n)
			t.drain(ks)
		} else if t.cfg.MaxDelay > 0 {
			wm := int64(now.Sub(ks.first)) + ks.ahead - int64(t.cfg.MaxDelay)
			for ks.held.Len() > 0 && ks.held[0].t <= wm {
				t.releaseKey(ks, heap.Pop(&ks.held).(row))
			}
		}
		if ks.held.Len() < n && !ks.unit.ticked {
			ks.unit.ticked = true // a flag, not a search of touched: a burst touches every unit
			touched = append(touched, ks.unit)
		}
		t.dueBy(ks)
	}
	if len(touched) == 0 {
		return nil
	}
	for _, u := range touched {
		u.ticked = false
	}
	return t.emitUnits(ctx, touched, emit)
}

// due returns when a Tick will release rows of the live key ks, zero if
// never (it holds none, or neither max_delay nor flush_timeout is set): the
// time the watermark of Tick reaches its oldest row, or flush_timeout after
// its last arrival, whichever is first.
func (t *Transform) due(ks *keyState) time.Time {
	if ks.held.Len() == 0 {
		return time.Time{}
	}
	var d time.Time
	if t.cfg.MaxDelay > 0 {
		d = ks.first.Add(time.Duration(ks.held[0].t-ks.ahead) + t.cfg.MaxDelay)
	}
	if t.cfg.FlushTimeout > 0 {
		if f := ks.lastIn.Add(t.cfg.FlushTimeout); d.IsZero() || f.Before(d) {
			d = f
		}
	}
	return d
}

// dueBy brings nextDue forward to ks's due time if that is sooner.
func (t *Transform) dueBy(ks *keyState) {
	if d := t.due(ks); !d.IsZero() && (t.nextDue.IsZero() || d.Before(t.nextDue)) {
		t.nextDue = d
	}
}

// report adds the growth of the stats since the last report to the counters
// ("reorder.late", "reorder.dead_lettered", "reorder.duplicates",
// "reorder.timed_out").
func (t *Transform) report() {
	if t.counters == nil || t.stats == t.reported {
		return
	}
	for _, c := range []struct {
		name     string
		now, was int64
	}{
		{"reorder.late", t.stats.Late, t.reported.Late},
		{"reorder.dead_lettered", t.stats.DeadLettered, t.reported.DeadLettered},
		{"reorder.duplicates", t.stats.Duplicates, t.reported.Duplicates},
		{"reorder.timed_out", t.stats.TimedOut, t.reported.TimedOut},
	} {
		if c.now != c.was {
			t.counters.Add(c.name, c.now-c.was)
		}
	}
	t.reported = t.stats
}

// Close implements core.Transform: rows still held are discarded.
func (t *Transform) Close() error {
	names := make([]string, 0, len(t.units))
	for n := range t.units {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t.forget(t.units[n])
	}
	t.log.Info("reorder: done", "released", t.stats.Released, "late", t.stats.Late,
		"dead_lettered", t.stats.DeadLettered, "duplicates", t.stats.Duplicates, "timed_out", t.stats.TimedOut)
	return nil
}
