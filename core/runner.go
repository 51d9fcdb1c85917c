package core

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/util"
	"github.com/cenkalti/backoff/v5"
)

// The commit protocol
//
// Batches flow from the source's units through the transforms on one goroutine
// (the run goroutine), as do the ticks of transforms that release rows on
// processing time (see Ticker) in a run with live units. What the transforms
// emit goes, in order, through a queue of RunOptions.QueueBatches to a second
// goroutine that writes it to every sink and commits, so that a sink's Write,
// Prepare and fsync never hold up the transforms (a live run's release of rows
// on time). The run goroutine marks the end of each message or tick it handled
// in that queue, and the sink goroutine commits only at those marks, after
// writing everything before them: a commit covers exactly what reached the
// sinks, at the same points as if one goroutine did both. At each commit point
// (a sink asking for a roll, the pipeline's commit policy, the end of the run,
// a stop signal) the runner:
//
//  1. asks every sink to Prepare (rows durable, not yet visible) and syncs the
//     dead-letter file;
//  2. writes a commit record to the state store: each sink's transaction and
//     each unit's new position (the durability point);
//  3. calls Commit on every sink with its transaction (files renamed into place);
//  4. writes the units' positions and deletes the commit record in one update;
//  5. acknowledges the positions to the source.
//
// A crash before 2 leaves only invisible temp files: the next run reads those rows
// again. A crash after 2 leaves the record, and the next run starts by finishing
// steps 3 and 4 (Commit is idempotent) before reading anything. So every row is in
// the committed output exactly once.

// State keys, under the pipeline's name.
func unitKey(pipeline, unit string) string { return pipeline + "/unit/" + unit }
func pendingKey(pipeline string) string    { return pipeline + "/pending" }
func runKey(pipeline string) string        { return pipeline + "/run" }
func unitPrefix(pipeline string) string    { return pipeline + "/unit/" }

// scopedKey is key for a run with RunOptions.Scope set: its own copy under the
// scope, so runs over disjoint units never write the same record.
func scopedKey(key, scope string) string {
	if scope == "" {
		return key
	}
	return key + "/" + scope
}

// UnitState is what the state store keeps per unit.
type UnitState struct {
	// Position is where the unit resumes; nil before its first commit.
	Position Position `json:"position,omitempty"`
	// Rows is the number of rows committed for the unit over all runs.
	Rows int64 `json:"rows"`
	// Updated is when the unit's state last changed.
	Updated time.Time `json:"updated"`
	// Error is the error that stopped the unit in its last run, if any.
	Error string `json:"error,omitempty"`
}

// RunRecord is what the state store keeps about the last run.
type RunRecord struct {
	Started     time.Time        `json:"started"`
	Duration    time.Duration    `json:"duration"`
	Rows        map[string]int64 `json:"rows"`
	Units       int              `json:"units"`
	UnitsFailed int              `json:"units_failed"`
	Commits     int              `json:"commits"`
	Files       int64            `json:"files"`
	DeadLetters int64            `json:"dead_letters"`
	Counts      map[string]int64 `json:"counts,omitempty"`
	Interrupted bool             `json:"interrupted,omitempty"`
	Error       string           `json:"error,omitempty"`
}

// commitRecord is step 2 of the commit protocol.
type commitRecord struct {
	Sinks []sinkTxn            `json:"sinks"`
	Units map[string]UnitState `json:"units"`
}

type sinkTxn struct {
	Path   string `json:"path"`
	Plugin string `json:"plugin"`
	Txn    []byte `json:"txn,omitempty"`
}

// RunOptions tune one run.
type RunOptions struct {
	// Store keeps positions; required.
	Store Store
	// Units restricts the run to these units (nil: every unit the source lists).
	Units []string
	// Progress, if set, is updated as the run goes, for progress displays.
	Progress *Progress
	// MaxTries is how many times a unit is read after transient errors without
	// making progress before it fails (default 8).
	MaxTries int
	// QueueBatches bounds the batches in flight between the readers and the
	// transforms, and again between the transforms and the sinks (default
	// 2 × concurrency). With the source's batch size it bounds memory.
	QueueBatches int
	// Scope, if set, gives the run its own commit record and run record
	// (keys "<pipeline>/pending/<scope>" and "<pipeline>/run/<scope>"), so that
	// runs of one pipeline over disjoint units — scale-out workers each running
	// one unit — commit side by side. A run finishes only the unfinished commit
	// of its own scope. Unit positions are shared and revision-checked as ever.
	Scope string
	// Tick is how often transforms that implement Ticker are ticked in a run
	// with live units (default: the pipeline file's tick, else DefaultTick;
	// negative: never, and no unit is live for them). A reorder tick that
	// finds rows due costs a pass over its live keys; others next to nothing.
	Tick time.Duration
}

// DefaultTick is RunOptions.Tick's default.
const DefaultTick = 10 * time.Millisecond

// Summary is what a run did.
type Summary struct {
	Pipeline string
	Started  time.Time
	Duration time.Duration
	Streams  []StreamCount
	Units    int
	Failed   map[string]error
	Commits  int
	// Files counts the files (or remote puts) the sinks made visible in the run.
	Files int64
	// DeadLetters counts the rows rejected in this run.
	DeadLetters int64
	// Counts is what the components added to the plan's Counters during the
	// run (live-stream gaps, late and duplicate rows...), non-zero ones only.
	Counts map[string]int64
	// Interrupted is true when the run stopped because its context was cancelled
	// (a signal); what was read was committed.
	Interrupted bool
}

// Rows returns the total rows written to the sinks.
func (s *Summary) Rows() int64 {
	var n int64
	for _, c := range s.Streams {
		n += c.Rows
	}
	return n
}

// ErrUnitsFailed is returned by Run when the run finished but some units failed;
// Summary.Failed says which and why.
var ErrUnitsFailed = errors.New("core: some units failed")

type msg struct {
	batch Batch
	at    time.Time // when the source emitted batch (see Arrival)
	done  bool      // unit finished: err says how
	unit  string
	err   error
}

type runState struct {
	pl    *Plan
	opts  RunOptions
	log   *slog.Logger
	prog  *Progress
	emits []Emit // emits[i] feeds stage i (transforms[i], or the sinks when i == len)
	// tickers are the indexes of the transforms ticked (see Ticker).
	tickers []int

	states    map[string]UnitState // committed state per unit (sink goroutine only once it runs)
	start     map[string]Position  // where each unit starts; read-only once readers run
	revs      map[string]uint64
	dirty     map[string]UnitState // next state of units changed since last commit
	sinceRows int64
	wantRoll  bool
	commits   int
	failed    map[string]error
	// abort is set by the run goroutine before it closes the sink
	// goroutine's queue when a transform failed: no final commit.
	abort bool
	// emitted says the transforms emitted a batch since the last step mark
	// (run goroutine only).
	emitted bool
}

// Run runs the plan: it finishes any commit a crashed run left, reads every
// unit from its saved position, and commits as described above. Cancelling ctx
// stops reading; everything already read is committed and Run returns a summary
// with Interrupted set and a nil error. Run returns ErrUnitsFailed (wrapped) if
// some units failed while others went on, and any other error when the run as a
// whole failed (a sink or transform error, the state store); nothing committed
// before is lost either way.
func (pl *Plan) Run(ctx context.Context, opts RunOptions) (*Summary, error) {
	if opts.Store == nil {
		return nil, errors.New("core: run: no state store")
	}
	if opts.MaxTries <= 0 {
		opts.MaxTries = 8
	}
	conc := max(pl.Pipeline.Concurrency, 1)
	if opts.QueueBatches <= 0 {
		opts.QueueBatches = 2 * conc
	}
	prog := opts.Progress
	if prog == nil {
		prog = NewProgress()
	}
	r := &runState{
		pl: pl, opts: opts, log: pl.logger, prog: prog,
		states: map[string]UnitState{}, start: map[string]Position{}, revs: map[string]uint64{},
		dirty: map[string]UnitState{}, failed: map[string]error{},
	}
	started := time.Now()
	sum := &Summary{Pipeline: pl.Pipeline.Name, Started: started}
	// A plan may run several times (etl serve): count this run's share.
	deadBefore, filesBefore, countsBefore := pl.dead.Count(), pl.committedFiles(), pl.counters.Snapshot()
	// The final commit and state writes must happen even after ctx is cancelled.
	bg := context.WithoutCancel(ctx)

	err := r.run(ctx, bg, conc, sum)
	sum.Duration = time.Since(started)
	sum.Streams = prog.Streams()
	sum.Commits = r.commits
	sum.Failed = r.failed
	sum.DeadLetters = pl.dead.Count() - deadBefore
	sum.Files = pl.committedFiles() - filesBefore
	sum.Counts = countsSince(countsBefore, pl.counters.Snapshot())
	r.saveRunRecord(bg, sum, err)
	if err != nil {
		return sum, err
	}
	if len(r.failed) > 0 {
		return sum, fmt.Errorf("%w: %d of %d", ErrUnitsFailed, len(r.failed), sum.Units)
	}
	return sum, nil
}

// countsSince returns the non-zero differences between two snapshots of a
// plan's Counters.
func countsSince(before, after map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// committedFiles sums what the sinks have made visible over the plan's life.
func (pl *Plan) committedFiles() int64 {
	var n int64
	for _, s := range pl.Sinks {
		if st, ok := s.(SinkStats); ok {
			n += st.Committed()
		}
	}
	return n
}

func (r *runState) run(ctx, bg context.Context, conc int, sum *Summary) error {
	pl := r.pl
	name := pl.Pipeline.Name
	if err := r.recoverCommit(bg); err != nil {
		return err
	}
	var units []string
	err := retryTransient(ctx, r.opts.MaxTries, func() (bool, error) {
		var err error
		units, err = pl.Source.Units(ctx)
		return false, err
	}, func(next time.Duration, err error) {
		r.log.Warn("listing units: transient error, retrying", "in", next, "err", err)
	})
	if err != nil {
		if ctx.Err() != nil {
			sum.Interrupted = true
			return nil
		}
		return fmt.Errorf("%s (%s): list units: %w", pl.Pipeline.Source.Path, pl.Pipeline.Source.Plugin, err)
	}
	if r.opts.Units != nil {
		want := map[string]bool{}
		for _, u := range r.opts.Units {
			want[u] = true
		}
		units = slices.DeleteFunc(units, func(u string) bool { return !want[u] })
	}
	sum.Units = len(units)
	r.prog.setUnits(len(units))
	entries, err := r.opts.Store.List(bg, unitPrefix(name))
	if err != nil {
		return err
	}
	for _, e := range entries {
		var st UnitState
		if err := json.Unmarshal(e.Value, &st); err != nil {
			return fmt.Errorf("core: state %s: %w", e.Key, err)
		}
		u := e.Key[len(unitPrefix(name)):]
		r.states[u], r.revs[u] = st, e.Rev
		r.start[u] = st.Position
	}

	// Stages: emits[i] hands a batch to transform i; the last one, to the
	// sink goroutine through out.
	out := make(chan output, r.opts.QueueBatches)
	sinkFailed := make(chan struct{})
	n := len(pl.Transforms)
	r.emits = make([]Emit, n+1)
	r.emits[n] = func(_ context.Context, b Batch) error {
		r.emitted = true
		return r.send(out, sinkFailed, output{batch: b})
	}
	for i := n - 1; i >= 0; i-- {
		t, next := pl.Transforms[i], r.emits[i+1]
		r.emits[i] = func(ctx context.Context, b Batch) error { return t.Apply(ctx, b, next) }
	}

	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	msgs := make(chan msg, r.opts.QueueBatches)
	work := make(chan string)
	var wg sync.WaitGroup
	for range min(conc, max(len(units), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range work {
				err := r.readUnit(readCtx, u, msgs)
				msgs <- msg{done: true, unit: u, err: err}
			}
		}()
	}
	go func() {
		defer close(work)
		for _, u := range units {
			select {
			case work <- u:
			case <-readCtx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(msgs) }()

	sinkErr := make(chan error, 1)
	go func() { sinkErr <- r.sinks(bg, ctx, out, sinkFailed, stopReading) }()

	interval := pl.Pipeline.Commit.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var ticks <-chan time.Time // nil: no transform needs processing-time ticks
	if tickers := r.liveTickers(units); len(tickers) > 0 {
		t := time.NewTicker(cmp.Or(r.opts.Tick, pl.Pipeline.Tick, DefaultTick))
		defer t.Stop()
		ticks = t.C
	}

	var fatal error
	// step ends the handling of a message or a tick: the sink goroutine then
	// commits if a sink rolled or enough rows were written; a failure stops
	// reading.
	step := func(err error) {
		if err == nil && r.emitted {
			// Only writes change what a commit check sees: a step that
			// emitted nothing (a row held, a tick with nothing due) needs
			// no mark.
			r.emitted = false
			err = r.send(out, sinkFailed, output{kind: outStep})
		}
		if err != nil {
			fatal = err
			stopReading()
		}
	}
	done := ctx.Done()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				// A transform failed: nothing more is committed (the sink
				// goroutine sees abort once out is closed).
				r.abort = fatal != nil && !errors.Is(fatal, errSinkFailed)
				close(out)
				serr := <-sinkErr
				if r.abort {
					return fatal
				}
				sum.Interrupted = ctx.Err() != nil
				return serr
			}
			if fatal != nil {
				m.batch.Release() // draining after a failure: nothing more is written
				continue
			}
			step(r.handle(bg, m, out, sinkFailed))
		case <-ticks:
			if fatal == nil {
				// The clock now, not the tick's own time: a tick handled late
				// (a busy run goroutine, a loaded machine) releases what is
				// due by now.
				step(r.tick(bg, time.Now()))
			}
		case <-ticker.C:
			if fatal == nil {
				step(r.send(out, sinkFailed, output{kind: outCommit}))
			}
		case <-done:
			// Stop signal: readers are returning (readCtx is derived from ctx);
			// keep handling what they already emitted until msgs closes.
			done = nil
			r.log.Info("stopping: committing what was read")
		}
	}
}

// errSinkFailed is what the transform side sees once the sink goroutine has
// failed; the run returns the sink goroutine's own error.
var errSinkFailed = errors.New("core: sinks failed")

// outKind says what an output tells the sink goroutine.
type outKind int

const (
	outBatch  outKind = iota // write batch
	outStep                  // a message or tick is handled: commit if a sink rolled or commit.rows is reached
	outCommit                // the commit interval passed: commit
	outDone                  // unit's source ended (err says how), and its flushed rows were sent
)

// output is one item from the transform side (the run goroutine) to the sink
// goroutine.
type output struct {
	kind  outKind
	batch Batch
	unit  string
	err   error
}

// send hands o to the sink goroutine, waiting while out is full (back
// pressure), unless the sink goroutine has failed.
func (r *runState) send(out chan<- output, sinkFailed <-chan struct{}, o output) error {
	select {
	case out <- o:
		return nil
	case <-sinkFailed:
		o.batch.Release()
		return errSinkFailed
	}
}

// sinks is the sink goroutine: it writes the batches the transforms emit, in
// order, keeps the units' next states, and commits at the step boundaries the
// run goroutine marks, so a commit covers exactly what reached the sinks.
// When out closes it makes the final commit, unless a failure came first
// (its own, or a transform's: abort):
// on its own failure it closes sinkFailed, stops reading, releases whatever
// is still sent and returns the failure.
func (r *runState) sinks(bg, ctx context.Context, out <-chan output, sinkFailed chan<- struct{}, stopReading func()) error {
	var fatal error
	for o := range out {
		if fatal != nil {
			o.batch.Release()
			continue
		}
		var err error
		switch o.kind {
		case outBatch:
			err = r.write(bg, o.batch)
		case outStep:
			if r.wantRoll || (r.pl.Pipeline.Commit.Rows > 0 && r.sinceRows >= r.pl.Pipeline.Commit.Rows) {
				err = r.commit(bg)
			}
		case outCommit:
			err = r.commit(bg)
		case outDone:
			r.unitDone(ctx, o.unit, o.err)
		}
		if err != nil {
			fatal = err
			close(sinkFailed)
			stopReading()
		}
	}
	if fatal != nil {
		return fatal
	}
	if r.abort {
		return nil
	}
	return r.commit(bg)
}

// handle processes one message on the run goroutine. bg is used for the pipeline
// work itself, so that a stop signal never tears a batch half-way through the sinks.
func (r *runState) handle(bg context.Context, m msg, out chan<- output, sinkFailed <-chan struct{}) error {
	if !m.done {
		return r.emits[0](WithArrival(bg, m.at), m.batch)
	}
	// The unit's source has ended: release what the transforms still hold for it.
	for i, t := range r.pl.Transforms {
		if err := t.Flush(bg, m.unit, r.emits[i+1]); err != nil {
			if errors.Is(err, errSinkFailed) {
				return err
			}
			return fmt.Errorf("%s (%s): flush %s: %w", r.pl.Pipeline.Transforms[i].Path, r.pl.Pipeline.Transforms[i].Plugin, m.unit, err)
		}
	}
	return r.send(out, sinkFailed, output{kind: outDone, unit: m.unit, err: m.err})
}

// unitDone records, on the sink goroutine, how a unit's source ended.
func (r *runState) unitDone(ctx context.Context, unit string, err error) {
	st := r.next(unit)
	switch {
	case err == nil:
		st.Error = ""
		r.prog.unitDone(unit, false)
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		// Stopped by a signal: not a failure; the unit resumes next run.
		r.prog.unitDone(unit, false)
	default:
		st.Error = err.Error()
		r.failed[unit] = err
		r.prog.unitDone(unit, true)
		r.log.Error("unit failed", "unit", unit, "err", err)
	}
	r.dirty[unit] = st
}

// liveTickers tells every transform that implements Ticker which of units
// are live, and returns the indexes of those transforms; none when the run
// has no live unit or ticks are off.
func (r *runState) liveTickers(units []string) []int {
	ls, ok := r.pl.Source.(LiveSource)
	if !ok || r.opts.Tick < 0 {
		return nil
	}
	var idx []int
	for i, t := range r.pl.Transforms {
		if _, ok := t.(Ticker); ok {
			idx = append(idx, i)
		}
	}
	live := false
	for _, u := range units {
		if len(idx) == 0 || !ls.Live(u) {
			continue
		}
		live = true
		for _, i := range idx {
			r.pl.Transforms[i].(Ticker).LiveUnit(u)
		}
	}
	if !live {
		return nil
	}
	r.tickers = idx
	return idx
}

// tick gives the transforms that tick the wall clock's reading now; what they
// release goes down the pipeline like the output of Apply.
func (r *runState) tick(ctx context.Context, now time.Time) error {
	for _, i := range r.tickers {
		if err := r.pl.Transforms[i].(Ticker).Tick(ctx, now, r.emits[i+1]); err != nil {
			c := r.pl.Pipeline.Transforms[i]
			return fmt.Errorf("%s (%s): tick: %w", c.Path, c.Plugin, err)
		}
	}
	return nil
}

// next returns the state the unit will have at the next commit.
func (r *runState) next(unit string) UnitState {
	if st, ok := r.dirty[unit]; ok {
		return st
	}
	return r.states[unit]
}

// write is the last stage: every sink writes the batch, then the unit's position
// advances (in memory, until the next commit).
func (r *runState) write(ctx context.Context, b Batch) error {
	defer b.Release()
	rows := b.Rows()
	if rows > 0 {
		for i, s := range r.pl.Sinks {
			if err := s.Write(ctx, b); err != nil {
				c := r.pl.Pipeline.Sinks[i]
				return fmt.Errorf("%s (%s): stream %s, unit %s: %w", c.Path, c.Plugin, b.Stream, b.Unit, err)
			}
			if cr, ok := s.(CommitRequester); ok && cr.CommitWanted() {
				r.wantRoll = true
			}
		}
		r.prog.add(b.Stream, rows, util.TotalRecordSize(b.Record))
		r.sinceRows += rows
	}
	if rows > 0 || b.Position != nil {
		st := r.next(b.Unit)
		st.Rows += rows
		if b.Position != nil {
			st.Position = b.Position
		}
		r.dirty[b.Unit] = st
	}
	return nil
}

// readUnit reads one unit, retrying transient errors with backoff from the last
// position it emitted. Tries are counted only while no progress is made.
func (r *runState) readUnit(ctx context.Context, unit string, msgs chan<- msg) error {
	from := r.start[unit]
	progressed := false
	ctx = WithStatus(ctx, func(s string) { r.prog.setStatus(unit, s) })
	emit := func(ectx context.Context, b Batch) error {
		if b.Unit == "" {
			b.Unit = unit
		}
		m := msg{batch: b, at: time.Now()}
		delivered := func() {
			if b.Position != nil {
				from = b.Position
			}
			progressed = true
		}
		select {
		case msgs <- m:
			delivered()
			return ctx.Err() // nil, or the stop that came meanwhile
		case <-ctx.Done():
		case <-ectx.Done():
			if ctx.Err() == nil {
				// The source's own context ended, not the run's: the batch is
				// the source's to drop.
				b.Release()
				return ectx.Err()
			}
		}
		// The run is stopping: what was read is still written and committed
		// (the run goroutine handles msgs until every reader returns), and
		// the error tells the source to stop.
		msgs <- m
		delivered()
		return ctx.Err()
	}
	err := retryTransient(ctx, r.opts.MaxTries, func() (bool, error) {
		progressed = false
		r.prog.setStatus(unit, "reading")
		err := r.pl.Source.Read(ctx, unit, from, emit)
		return progressed, err
	}, func(next time.Duration, err error) {
		r.log.Warn("unit: transient error, retrying", "unit", unit, "in", next, "err", err)
		r.prog.setStatus(unit, fmt.Sprintf("waiting %s: %v", next.Round(time.Millisecond), err))
	})
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = errors.Join(err, ctx.Err())
	}
	return err
}

// retryTransient calls op until it succeeds, fails for good, ctx ends, or
// maxTries calls in a row fail without progress. Transient errors (ErrTransient)
// are retried after an exponential backoff, or after the wait the error asks for
// if longer; op reports whether it made progress, which starts the count again.
func retryTransient(ctx context.Context, maxTries int, op func() (progressed bool, err error), waiting func(time.Duration, error)) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 500 * time.Millisecond
	bo.MaxInterval = time.Minute
	tries := 0
	for {
		progressed, err := op()
		if err == nil || ctx.Err() != nil {
			return err
		}
		wait, transient := RetryAfter(err)
		if !transient {
			return err
		}
		if progressed {
			bo.Reset()
			tries = 0
		}
		tries++
		if tries >= maxTries {
			return fmt.Errorf("giving up after %d tries: %w", tries, err)
		}
		next := max(bo.NextBackOff(), wait)
		waiting(next, err)
		t := time.NewTimer(next)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// commit runs the commit protocol (see the top of this file).
func (r *runState) commit(ctx context.Context) error {
	pl := r.pl
	name := pl.Pipeline.Name
	rec := commitRecord{Units: map[string]UnitState{}}
	any := false
	for i, s := range pl.Sinks {
		txn, err := s.Prepare(ctx)
		if err != nil {
			c := pl.Pipeline.Sinks[i]
			return fmt.Errorf("%s (%s): prepare commit: %w", c.Path, c.Plugin, err)
		}
		any = any || txn != nil
		rec.Sinks = append(rec.Sinks, sinkTxn{Path: pl.Pipeline.Sinks[i].Path, Plugin: pl.Pipeline.Sinks[i].Plugin, Txn: txn})
	}
	if err := pl.dead.Sync(); err != nil {
		return err
	}
	r.wantRoll, r.sinceRows = false, 0
	if !any && len(r.dirty) == 0 {
		return nil
	}
	now := time.Now().UTC()
	for u, st := range r.dirty {
		st.Updated = now
		rec.Units[u] = st
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("core: commit record: %w", err)
	}
	revs, err := r.opts.Store.Update(ctx, Write{Key: scopedKey(pendingKey(name), r.opts.Scope), Value: raw})
	if err != nil {
		return fmt.Errorf("core: commit: %w", err)
	}
	if err := r.finish(ctx, rec, revs[0]); err != nil {
		return err
	}
	r.dirty = map[string]UnitState{}
	r.commits++
	for u, st := range rec.Units {
		if st.Position == nil {
			continue
		}
		if err := pl.Source.Ack(ctx, u, st.Position); err != nil {
			r.log.Warn("source ack failed", "unit", u, "err", err)
		}
	}
	return nil
}

// finish does steps 3 and 4 of the protocol for a recorded commit.
func (r *runState) finish(ctx context.Context, rec commitRecord, pendingRev uint64) error {
	pl := r.pl
	name := pl.Pipeline.Name
	for i, st := range rec.Sinks {
		if st.Txn == nil {
			continue
		}
		if err := pl.Sinks[i].Commit(ctx, st.Txn); err != nil {
			return fmt.Errorf("%s (%s): commit: %w", st.Path, st.Plugin, err)
		}
	}
	writes := make([]Write, 0, len(rec.Units)+1)
	units := make([]string, 0, len(rec.Units))
	for u, st := range rec.Units {
		raw, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("core: unit state: %w", err)
		}
		writes = append(writes, Write{Key: unitKey(name, u), Value: raw, Rev: r.revs[u]})
		units = append(units, u)
	}
	writes = append(writes, Write{Key: scopedKey(pendingKey(name), r.opts.Scope), Rev: pendingRev})
	revs, err := r.opts.Store.Update(ctx, writes...)
	if err != nil {
		return fmt.Errorf("core: commit: %w", err)
	}
	for i, u := range units {
		r.states[u], r.revs[u] = rec.Units[u], revs[i]
	}
	return nil
}

// recoverCommit finishes a commit that a crashed run recorded but did not finish.
func (r *runState) recoverCommit(ctx context.Context) error {
	pl := r.pl
	name := pl.Pipeline.Name
	raw, rev, err := r.opts.Store.Get(ctx, scopedKey(pendingKey(name), r.opts.Scope))
	if err != nil || raw == nil {
		return err
	}
	var rec commitRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return fmt.Errorf("core: state: unfinished commit record: %w", err)
	}
	if len(rec.Sinks) != len(pl.Sinks) {
		return fmt.Errorf("core: state holds an unfinished commit for %d sinks but the pipeline has %d; restore the pipeline file's sinks and run again", len(rec.Sinks), len(pl.Sinks))
	}
	for i, st := range rec.Sinks {
		c := pl.Pipeline.Sinks[i]
		if st.Path != c.Path || st.Plugin != c.Plugin {
			return fmt.Errorf("core: state holds an unfinished commit for %s (%s) but the pipeline now has %s (%s) there; restore the pipeline file's sinks and run again", st.Path, st.Plugin, c.Path, c.Plugin)
		}
	}
	entries, err := r.opts.Store.List(ctx, unitPrefix(name))
	if err != nil {
		return err
	}
	for _, e := range entries {
		r.revs[e.Key[len(unitPrefix(name)):]] = e.Rev
	}
	r.log.Info("finishing the commit an earlier run left unfinished", "units", len(rec.Units))
	if err := r.finish(ctx, rec, rev); err != nil {
		return err
	}
	r.commits++
	return nil
}

func (r *runState) saveRunRecord(ctx context.Context, sum *Summary, runErr error) {
	rec := RunRecord{
		Started: sum.Started.UTC(), Duration: sum.Duration, Rows: map[string]int64{},
		Units: sum.Units, UnitsFailed: len(sum.Failed), Commits: sum.Commits, Files: sum.Files,
		DeadLetters: sum.DeadLetters, Counts: sum.Counts, Interrupted: sum.Interrupted,
	}
	for _, s := range sum.Streams {
		rec.Rows[s.Stream] = s.Rows
	}
	if runErr != nil {
		rec.Error = runErr.Error()
	}
	raw, _ := json.Marshal(rec)
	key := scopedKey(runKey(r.pl.Pipeline.Name), r.opts.Scope)
	_, rev, err := r.opts.Store.Get(ctx, key)
	if err == nil {
		_, err = r.opts.Store.Update(ctx, Write{Key: key, Value: raw, Rev: rev})
	}
	if err != nil {
		r.log.Warn("could not save the run record", "err", err)
	}
}
