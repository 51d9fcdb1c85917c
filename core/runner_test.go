package core

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// seqSource emits, per unit, the int64 values 0..rows-1 in batches of batch rows.
// Its position is the next value, 8 bytes big-endian. Faults are injected per unit.
type seqSource struct {
	mem   memory.Allocator
	units []string
	rows  int64
	batch int64

	mu         sync.Mutex
	failAt     map[string]int64 // unit -> value at which Read fails once with failErr
	failErr    map[string]error
	permanent  map[string]error // unit -> error returned on every Read
	block      chan struct{}    // if set, Read blocks after its first batch until closed or ctx ends
	blockUnit  string           // if set, only this unit blocks
	acks       map[string]int64
	unitsFails int // Units fails transiently this many times first
}

var seqSchema = arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)

func (s *seqSource) Units(ctx context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unitsFails > 0 {
		s.unitsFails--
		return nil, Transient(errors.New("503 service unavailable"), time.Millisecond)
	}
	return s.units, nil
}

func (s *seqSource) Read(ctx context.Context, unit string, from Position, emit Emit) error {
	var next int64
	if from != nil {
		next = int64(binary.BigEndian.Uint64(from))
	}
	s.mu.Lock()
	perm := s.permanent[unit]
	s.mu.Unlock()
	if perm != nil {
		return perm
	}
	first := true
	for next < s.rows {
		s.mu.Lock()
		at, ok := s.failAt[unit]
		if ok && next >= at {
			delete(s.failAt, unit)
			err := s.failErr[unit]
			s.mu.Unlock()
			return err
		}
		s.mu.Unlock()
		n := min(s.batch, s.rows-next)
		b := array.NewInt64Builder(s.mem)
		for i := next; i < next+n; i++ {
			b.Append(i)
		}
		arr := b.NewArray()
		b.Release()
		rec := array.NewRecordBatch(seqSchema, []arrow.Array{arr}, n)
		arr.Release()
		next += n
		pos := binary.BigEndian.AppendUint64(nil, uint64(next))
		if err := emit(ctx, Batch{Stream: "seq", Unit: unit, Record: rec, Position: pos}); err != nil {
			return err
		}
		if first && s.block != nil && (s.blockUnit == "" || s.blockUnit == unit) {
			first = false
			select {
			case <-s.block:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

func (s *seqSource) Ack(ctx context.Context, unit string, pos Position) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acks == nil {
		s.acks = map[string]int64{}
	}
	s.acks[unit] = int64(binary.BigEndian.Uint64(pos))
	return nil
}

func (s *seqSource) Close() error { return nil }

// memSink keeps written values per unit in a pending list; Prepare moves them
// into a numbered transaction and Commit makes a transaction visible once.
type memSink struct {
	mu         sync.Mutex
	pending    []row
	txns       map[string][]row
	visible    []row
	done       map[string]bool
	n          int
	failWrite  error
	failCommit error
	rollEvery  int // ask for a commit after this many rows (0: never)
	sinceRoll  int
}

type row struct {
	unit string
	v    int64
}

func newMemSink() *memSink { return &memSink{txns: map[string][]row{}, done: map[string]bool{}} }

func (m *memSink) Write(ctx context.Context, b Batch) error {
	if m.failWrite != nil {
		return m.failWrite
	}
	col := b.Record.Column(0).(*array.Int64)
	for i := 0; i < col.Len(); i++ {
		m.pending = append(m.pending, row{b.Unit, col.Value(i)})
	}
	m.sinceRoll += col.Len()
	return nil
}

func (m *memSink) CommitWanted() bool { return m.rollEvery > 0 && m.sinceRoll >= m.rollEvery }

func (m *memSink) Prepare(ctx context.Context) ([]byte, error) {
	m.sinceRoll = 0
	if len(m.pending) == 0 {
		return nil, nil
	}
	m.n++
	id := fmt.Sprint(m.n)
	m.txns[id] = m.pending
	m.pending = nil
	return []byte(id), nil
}

func (m *memSink) Commit(ctx context.Context, txn []byte) error {
	if m.failCommit != nil {
		return m.failCommit
	}
	id := string(txn)
	if m.done[id] {
		return nil
	}
	m.done[id] = true
	m.visible = append(m.visible, m.txns[id]...)
	return nil
}

func (m *memSink) Close() error { m.pending = nil; return nil }

// values returns the visible values per unit, sorted.
func (m *memSink) values() map[string][]int64 {
	out := map[string][]int64{}
	for _, r := range m.visible {
		out[r.unit] = append(out[r.unit], r.v)
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

func newTestPlan(t *testing.T, src Source, sinks ...Sink) *Plan {
	t.Helper()
	dir := t.TempDir()
	p := &Pipeline{Name: "test", State: dir, Concurrency: 2, Source: Component{Plugin: "seq", Path: "source"}}
	for i := range sinks {
		p.Sinks = append(p.Sinks, Component{Plugin: "mem", Path: fmt.Sprintf("sinks[%d]", i)})
	}
	return &Plan{Pipeline: p, Source: src, Sinks: sinks, logger: slog.New(slog.DiscardHandler),
		dead: &deadLetterFile{path: filepath.Join(dir, "dl.jsonl")}}
}

func openStore(t *testing.T, pl *Plan) Store {
	t.Helper()
	st, err := OpenBoltStore(pl.Pipeline.StatePath())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func want(units []string, n int64) map[string][]int64 {
	out := map[string][]int64{}
	for _, u := range units {
		for i := int64(0); i < n; i++ {
			out[u] = append(out[u], i)
		}
	}
	return out
}

func checkValues(t *testing.T, got, want map[string][]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d units, want %d", len(got), len(want))
	}
	for u, w := range want {
		if !slices.Equal(got[u], w) {
			t.Errorf("unit %s: got %d values %v..., want %d values 0..%d exactly once", u, len(got[u]), head(got[u]), len(w), len(w)-1)
		}
	}
}

func head(v []int64) []int64 { return v[:min(len(v), 5)] }

func TestRunDeliversEveryRowOnceAndResumes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	src := &seqSource{mem: mem, units: []string{"a", "b", "c"}, rows: 1000, batch: 64}
	sink := newMemSink()
	pl := newTestPlan(t, src, sink)
	store := openStore(t, pl)

	sum, err := pl.Run(context.Background(), RunOptions{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	checkValues(t, sink.values(), want(src.units, 1000))
	if got := sum.Rows(); got != 3000 {
		t.Errorf("summary rows: got %d, want 3000", got)
	}
	for _, u := range src.units {
		if src.acks[u] != 1000 {
			t.Errorf("ack for %s: got %d, want 1000", u, src.acks[u])
		}
	}

	// A second run resumes from the saved positions: nothing new.
	sum, err = pl.Run(context.Background(), RunOptions{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows() != 0 {
		t.Errorf("second run: got %d rows, want 0", sum.Rows())
	}
	checkValues(t, sink.values(), want(src.units, 1000))

	// More data appears: only the new rows are exported.
	src.rows = 1500
	if _, err := pl.Run(context.Background(), RunOptions{Store: store}); err != nil {
		t.Fatal(err)
	}
	checkValues(t, sink.values(), want(src.units, 1500))
}

func TestRunRollsCommitEachRoll(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	src := &seqSource{mem: mem, units: []string{"a"}, rows: 1000, batch: 100}
	sink := newMemSink()
	sink.rollEvery = 300
	pl := newTestPlan(t, src, sink)
	sum, err := pl.Run(context.Background(), RunOptions{Store: openStore(t, pl)})
	if err != nil {
		t.Fatal(err)
	}
	// Rolls after 300, 600, 900 rows, then the final commit.
	if sum.Commits != 4 {
		t.Errorf("commits: got %d, want 4", sum.Commits)
	}
	checkValues(t, sink.values(), want(src.units, 1000))
}

func TestRunFinishesACommitACrashLeft(t *testing.T) {
	for _, scope := range []string{"", "worker-1"} {
		t.Run("scope="+scope, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			src := &seqSource{mem: mem, units: []string{"a", "b"}, rows: 500, batch: 50}
			sink := newMemSink()
			sink.failCommit = errors.New("power cut")
			pl := newTestPlan(t, src, sink)
			store := openStore(t, pl)
			ctx := context.Background()
			key := scopedKey(pendingKey("test"), scope)

			// The commit record is written, then the sink's commit fails: as if the
			// process died between steps 2 and 3.
			if _, err := pl.Run(ctx, RunOptions{Store: store, Scope: scope}); err == nil {
				t.Fatal("run with a failing commit: got nil error")
			}
			if len(sink.visible) != 0 {
				t.Fatalf("nothing may be visible yet, got %d rows", len(sink.visible))
			}
			if raw, _, _ := store.Get(ctx, key); raw == nil {
				t.Fatalf("no commit record left behind at %s", key)
			}
			if scope != "" {
				// Another scope's run neither sees nor finishes it.
				if raw, _, _ := store.Get(ctx, pendingKey("test")); raw != nil {
					t.Fatal("a scoped run wrote the unscoped commit record")
				}
			}

			sink.failCommit = nil
			sum, err := pl.Run(ctx, RunOptions{Store: store, Scope: scope})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Rows() != 0 {
				t.Errorf("rerun read %d rows, want 0 (the recovered commit covers them)", sum.Rows())
			}
			checkValues(t, sink.values(), want(src.units, 500))
			if raw, _, _ := store.Get(ctx, key); raw != nil {
				t.Error("commit record still there after recovery")
			}
			if raw, _, _ := store.Get(ctx, scopedKey(runKey("test"), scope)); raw == nil {
				t.Error("no run record for the scope")
			}
		})
	}
}

func TestRunRetriesTransientAndIsolatesFailedUnits(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	src := &seqSource{mem: mem, units: []string{"a", "b", "c"}, rows: 300, batch: 100,
		failAt:    map[string]int64{"a": 100},
		failErr:   map[string]error{"a": Transient(errors.New("429 too many requests"), 10*time.Millisecond)},
		permanent: map[string]error{"b": errors.New("401 token rejected for user b")},
	}
	sink := newMemSink()
	pl := newTestPlan(t, src, sink)
	store := openStore(t, pl)
	sum, err := pl.Run(context.Background(), RunOptions{Store: store})
	if !errors.Is(err, ErrUnitsFailed) {
		t.Fatalf("got error %v, want ErrUnitsFailed", err)
	}
	if len(sum.Failed) != 1 || sum.Failed["b"] == nil {
		t.Errorf("failed units: got %v, want only b", sum.Failed)
	}
	got := sink.values()
	checkValues(t, map[string][]int64{"a": got["a"], "c": got["c"]}, want([]string{"a", "c"}, 300))
	raw, _, _ := store.Get(context.Background(), unitKey("test", "b"))
	var st UnitState
	json.Unmarshal(raw, &st)
	if st.Error != "401 token rejected for user b" {
		t.Errorf("unit b state error: got %q", st.Error)
	}
}

// runStopped runs src into a memSink until a stop 100 ms in, and returns
// the sink, the plan, its store and the run's summary.
func runStopped(t *testing.T, src Source) (*memSink, *Plan, Store, *Summary) {
	t.Helper()
	sink := newMemSink()
	pl := newTestPlan(t, src, sink)
	store := openStore(t, pl)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(100*time.Millisecond, cancel)
	sum, err := pl.Run(ctx, RunOptions{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	return sink, pl, store, sum
}

func TestRunStopsOnCancelAndCommitsWhatWasRead(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	src := &seqSource{mem: mem, units: []string{"a"}, rows: 1000, batch: 100, block: make(chan struct{})}
	sink, pl, store, sum := runStopped(t, src)
	if !sum.Interrupted {
		t.Error("summary not marked interrupted")
	}
	if got := sink.values()["a"]; len(got) != 100 {
		t.Fatalf("committed %d rows, want the 100 read before the stop", len(got))
	}
	// The next run continues after them.
	close(src.block)
	src.block = nil
	if _, err := pl.Run(context.Background(), RunOptions{Store: store}); err != nil {
		t.Fatal(err)
	}
	checkValues(t, sink.values(), want(src.units, 1000))
}

// drainingSource emits one batch, waits for the stop, then emits two more
// batches as a live source draining its connection does, recording what
// emit returned for them.
type drainingSource struct {
	*seqSource
	afterStop []error
}

func (d *drainingSource) Read(ctx context.Context, unit string, from Position, emit Emit) error {
	batch := func(lo int64) Batch {
		b := array.NewInt64Builder(d.mem)
		defer b.Release()
		for i := lo; i < lo+100; i++ {
			b.Append(i)
		}
		arr := b.NewArray()
		defer arr.Release()
		return Batch{Stream: "seq", Unit: unit, Record: array.NewRecordBatch(seqSchema, []arrow.Array{arr}, 100),
			Position: binary.BigEndian.AppendUint64(nil, uint64(lo+100))}
	}
	if err := emit(ctx, batch(0)); err != nil {
		return err
	}
	<-ctx.Done()
	d.afterStop = append(d.afterStop, emit(ctx, batch(100)), emit(ctx, batch(200)))
	return ctx.Err()
}

func TestRunCommitsWhatASourceEmitsWhileStopping(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	src := &drainingSource{seqSource: &seqSource{mem: mem, units: []string{"a"}, rows: 300}}
	sink, pl, store, sum := runStopped(t, src)
	if !sum.Interrupted || len(sum.Failed) != 0 {
		t.Errorf("summary: interrupted %v, failed %v; want an interrupted run and no failed unit", sum.Interrupted, sum.Failed)
	}
	if len(src.afterStop) != 2 || !errors.Is(src.afterStop[0], context.Canceled) || !errors.Is(src.afterStop[1], context.Canceled) {
		t.Errorf("emit after the stop returned %v, want context.Canceled twice", src.afterStop)
	}
	checkValues(t, sink.values(), want(src.units, 300))
	// Its position was saved with them: the next run starts after row 300.
	units, err := UnitStates(context.Background(), store, pl.Pipeline.Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(units) != 1 || len(units[0].State.Position) != 8 || binary.BigEndian.Uint64(units[0].State.Position) != 300 {
		t.Errorf("saved unit states %+v, want unit a at position 300", units)
	}
}

func TestRunSinkFailureKeepsCommittedData(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	src := &seqSource{mem: mem, units: []string{"a"}, rows: 200, batch: 100}
	sink := newMemSink()
	pl := newTestPlan(t, src, sink)
	store := openStore(t, pl)
	if _, err := pl.Run(context.Background(), RunOptions{Store: store}); err != nil {
		t.Fatal(err)
	}
	src.rows = 400
	sink.failWrite = errors.New("disk full")
	_, err := pl.Run(context.Background(), RunOptions{Store: store})
	if err == nil || err.Error() != "sinks[0] (mem): stream seq, unit a: disk full" {
		t.Fatalf("got error %v, want the sink's error naming sink, stream and unit", err)
	}
	checkValues(t, sink.values(), want(src.units, 200))
	sink.failWrite = nil
	if _, err := pl.Run(context.Background(), RunOptions{Store: store}); err != nil {
		t.Fatal(err)
	}
	checkValues(t, sink.values(), want(src.units, 400))
}

func TestRunRetriesListingUnits(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	src := &seqSource{mem: mem, units: []string{"a"}, rows: 10, batch: 5, unitsFails: 2}
	sink := newMemSink()
	pl := newTestPlan(t, src, sink)
	store := openStore(t, pl)
	if _, err := pl.Run(context.Background(), RunOptions{Store: store}); err != nil {
		t.Fatal(err)
	}
	checkValues(t, sink.values(), want(src.units, 10))
	src.unitsFails = 100
	_, err := pl.Run(context.Background(), RunOptions{Store: store, MaxTries: 3})
	if err == nil || !strings.Contains(err.Error(), "list units: giving up after 3 tries: 503 service unavailable") {
		t.Errorf("got %v, want the listing to give up after 3 tries", err)
	}
}

func TestRunSelectedUnits(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	src := &seqSource{mem: mem, units: []string{"a", "b"}, rows: 10, batch: 5}
	sink := newMemSink()
	pl := newTestPlan(t, src, sink)
	if _, err := pl.Run(context.Background(), RunOptions{Store: openStore(t, pl), Units: []string{"b"}}); err != nil {
		t.Fatal(err)
	}
	checkValues(t, sink.values(), want([]string{"b"}, 10))
}

func TestBoltStoreRefusesStaleWrites(t *testing.T) {
	st, err := OpenBoltStore(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	revs, err := st.Update(ctx, Write{Key: "k", Value: []byte("1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Update(ctx, Write{Key: "k", Value: []byte("2")}); !errors.Is(err, ErrStale) {
		t.Errorf("create over an existing key: got %v, want ErrStale", err)
	}
	if _, err := st.Update(ctx, Write{Key: "k", Value: []byte("2"), Rev: revs[0]}, Write{Key: "other", Value: []byte("x"), Rev: 99}); !errors.Is(err, ErrStale) {
		t.Errorf("batch with one stale write: got %v, want ErrStale", err)
	}
	if v, _, _ := st.Get(ctx, "k"); string(v) != "1" {
		t.Errorf("a refused batch must change nothing: got %q, want %q", v, "1")
	}
	revs2, err := st.Update(ctx, Write{Key: "k", Value: []byte("2"), Rev: revs[0]})
	if err != nil {
		t.Fatal(err)
	}
	if revs2[0] <= revs[0] {
		t.Errorf("revision went from %d to %d, want it to grow", revs[0], revs2[0])
	}
	if _, err := st.Update(ctx, Write{Key: "k", Rev: revs2[0]}); err != nil {
		t.Fatal(err)
	}
	if v, rev, _ := st.Get(ctx, "k"); v != nil || rev != 0 {
		t.Errorf("deleted key: got %q rev %d", v, rev)
	}
}

// oddRejecter passes even values and sends odd ones to the dead letters.
type oddRejecter struct {
	mem  memory.Allocator
	dead DeadLetters
}

func (o *oddRejecter) Apply(ctx context.Context, in Batch, emit Emit) error {
	defer in.Release()
	col := in.Record.Column(0).(*array.Int64)
	b := array.NewInt64Builder(o.mem)
	defer b.Release()
	for i := 0; i < col.Len(); i++ {
		if v := col.Value(i); v%2 == 0 {
			b.Append(v)
		} else if err := o.dead.Reject(ctx, DeadLetter{Stream: in.Stream, Unit: in.Unit, Component: "transforms[0]",
			Reason: fmt.Sprintf("odd value %d", v), Value: RowJSON(in.Record, i)}); err != nil {
			return err
		}
	}
	arr := b.NewArray()
	defer arr.Release()
	out := array.NewRecordBatch(seqSchema, []arrow.Array{arr}, int64(arr.Len()))
	return emit(ctx, Batch{Stream: in.Stream, Unit: in.Unit, Record: out, Position: in.Position})
}

func (o *oddRejecter) Flush(ctx context.Context, unit string, emit Emit) error { return nil }
func (o *oddRejecter) Close() error                                            { return nil }

func TestRunDeadLettersKeepRejectedRows(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	src := &seqSource{mem: mem, units: []string{"a"}, rows: 10, batch: 4}
	sink := newMemSink()
	pl := newTestPlan(t, src, sink)
	pl.Transforms = []Transform{&oddRejecter{mem: mem, dead: pl.dead}}
	pl.Pipeline.Transforms = []Component{{Plugin: "odd", Path: "transforms[0]"}}
	sum, err := pl.Run(context.Background(), RunOptions{Store: openStore(t, pl)})
	if err != nil {
		t.Fatal(err)
	}
	if sum.DeadLetters != 5 {
		t.Errorf("dead letters: got %d, want 5", sum.DeadLetters)
	}
	if got := sink.values()["a"]; !slices.Equal(got, []int64{0, 2, 4, 6, 8}) {
		t.Errorf("sink got %v, want the even values", got)
	}
	pl.dead.Close()
	raw, err := os.ReadFile(pl.dead.path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 5 {
		t.Fatalf("dead-letter file: got %d lines, want 5", len(lines))
	}
	var first struct {
		Stream, Unit, Component, Reason string
		Value                           map[string]int64
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.Stream != "seq" || first.Unit != "a" || first.Component != "transforms[0]" || first.Reason != "odd value 1" || first.Value["v"] != 1 {
		t.Errorf("first dead letter: got %+v", first)
	}
}

// liveSeq is a seqSource whose units named live/... are live.
type liveSeq struct{ *seqSource }

func (liveSeq) Live(unit string) bool { return strings.HasPrefix(unit, "live/") }

// tickHolder holds every batch of a live unit until the next Tick (or the
// unit's Flush); other batches pass at once.
type tickHolder struct {
	counters *Counters
	live     []string
	held     []Batch
	released chan struct{} // closed at the first Tick that releases rows
}

func (h *tickHolder) LiveUnit(unit string) { h.live = append(h.live, unit) }

func (h *tickHolder) Apply(ctx context.Context, b Batch, emit Emit) error {
	if at, ok := Arrival(ctx); !ok || at.After(time.Now()) {
		b.Release()
		return fmt.Errorf("Apply without the time the source emitted the batch (got %v, %t)", at, ok)
	}
	if slices.Contains(h.live, b.Unit) {
		h.held = append(h.held, b)
		return nil
	}
	return emit(ctx, b)
}

func (h *tickHolder) Tick(ctx context.Context, now time.Time, emit Emit) error {
	if now.IsZero() {
		return errors.New("tick without the time")
	}
	if len(h.held) > 0 {
		defer func() {
			if h.released != nil {
				close(h.released)
				h.released = nil
			}
		}()
	}
	return h.release(ctx, "", emit)
}

// release emits the held batches of unit ("": of every unit).
func (h *tickHolder) release(ctx context.Context, unit string, emit Emit) error {
	var keep []Batch
	for _, b := range h.held {
		if unit != "" && b.Unit != unit {
			keep = append(keep, b)
			continue
		}
		h.counters.Add("hold.released", b.Rows())
		if err := emit(ctx, b); err != nil {
			return err
		}
	}
	h.held = keep
	return nil
}

func (h *tickHolder) Flush(ctx context.Context, unit string, emit Emit) error {
	return h.release(ctx, unit, emit)
}

func (h *tickHolder) Close() error {
	for _, b := range h.held {
		b.Release()
	}
	return nil
}

func TestRunTicksTransformsForLiveUnits(t *testing.T) {
	for _, tc := range []struct {
		name string
		tick time.Duration
		live []string // units LiveUnit is told about
		held int64    // rows held, then released by ticks
	}{
		{"ticks release held rows while the run goes", 0, []string{"live/a"}, 100},
		{"ticks off: no unit is live, nothing is held", -1, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			src := &seqSource{mem: mem, units: []string{"live/a", "b"}, rows: 1000, batch: 100,
				block: make(chan struct{}), blockUnit: "live/a"} // b ends; live/a blocks after its first batch
			sink := newMemSink()
			pl := newTestPlan(t, liveSeq{src}, sink)
			pl.counters = &Counters{}
			h := &tickHolder{counters: pl.counters, released: make(chan struct{})}
			pl.Transforms = []Transform{h}
			pl.Pipeline.Transforms = []Component{{Plugin: "hold", Path: "transforms[0]"}}
			store := openStore(t, pl)
			released := h.released

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var sum *Summary
			var err error
			finished := make(chan struct{})
			go func() {
				defer close(finished)
				sum, err = pl.Run(ctx, RunOptions{Store: store, Tick: tc.tick})
			}()
			select {
			case <-released:
				if tc.held == 0 {
					t.Error("a tick released rows with ticks off")
				}
			case <-time.After(300 * time.Millisecond):
				if tc.held > 0 {
					t.Error("no tick released the live unit's rows within 300ms")
				}
			}
			cancel()
			<-finished
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(h.live, tc.live) {
				t.Errorf("LiveUnit got %q, want %q", h.live, tc.live)
			}
			got := sink.values()
			if len(got["live/a"]) != 100 || len(got["b"]) != 1000 {
				t.Errorf("committed %d rows of live/a and %d of b, want 100 (read before the stop) and 1000", len(got["live/a"]), len(got["b"]))
			}
			if sum.Counts["hold.released"] != tc.held {
				t.Errorf("summary counts: got %v, want hold.released %d", sum.Counts, tc.held)
			}
			raw, _, _ := store.Get(context.Background(), runKey("test"))
			var rec RunRecord
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Counts["hold.released"] != tc.held {
				t.Errorf("run record counts: got %v, want hold.released %d", rec.Counts, tc.held)
			}
		})
	}
}

// gatedSource holds back the reads of live units until gate closes.
type gatedSource struct {
	liveSeq
	gate chan struct{}
}

func (g gatedSource) Read(ctx context.Context, unit string, from Position, emit Emit) error {
	if g.Live(unit) {
		select {
		case <-g.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.liveSeq.Read(ctx, unit, from, emit)
}

// slowPrepareSink is a memSink whose first Prepare closes started, then
// waits (at most wait) for until to close, noting whether it did.
type slowPrepareSink struct {
	*memSink
	started, until chan struct{}
	wait           time.Duration
	sawUntil       bool
	once           sync.Once
}

func (s *slowPrepareSink) Prepare(ctx context.Context) ([]byte, error) {
	s.once.Do(func() {
		close(s.started)
		select {
		case <-s.until:
			s.sawUntil = true
		case <-time.After(s.wait):
		}
	})
	return s.memSink.Prepare(ctx)
}

// The sinks' Prepare (flush, fsync) runs on its own goroutine: while it
// blocks, live rows are still released by ticks and emitted towards the sinks,
// as long as the queue between them has room.
func TestRunTicksWhileASinkPrepares(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	gate := make(chan struct{})
	src := gatedSource{liveSeq{&seqSource{mem: mem, units: []string{"b", "live/a"}, rows: 1000, batch: 100,
		block: make(chan struct{}), blockUnit: "live/a"}}, gate}
	sink := &slowPrepareSink{memSink: newMemSink(), started: gate, wait: 5 * time.Second}
	sink.rollEvery = 1 // b's first batch asks for a commit
	pl := newTestPlan(t, src, sink)
	pl.counters = &Counters{}
	released := make(chan struct{})
	h := &tickHolder{counters: pl.counters, released: released}
	sink.until = released
	pl.Transforms = []Transform{h}
	pl.Pipeline.Transforms = []Component{{Plugin: "hold", Path: "transforms[0]"}}
	store := openStore(t, pl)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	finished := make(chan error)
	go func() {
		// Room in the queue for all of b: a full queue holds the run
		// goroutine back (back pressure), ticks included.
		_, err := pl.Run(ctx, RunOptions{Store: store, QueueBatches: 64})
		finished <- err
	}()
	select {
	case <-sink.started:
	case <-time.After(5 * time.Second):
		t.Fatal("no commit began")
	}
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatal("no tick released the live unit's rows while a sink prepared")
	}
	cancel()
	if err := <-finished; err != nil {
		t.Fatal(err)
	}
	if !sink.sawUntil {
		t.Error("the live rows were released only after Prepare gave up waiting")
	}
	got := sink.values()
	if len(got["live/a"]) != 100 || len(got["b"]) != 1000 {
		t.Errorf("committed %d rows of live/a and %d of b, want 100 and 1000", len(got["live/a"]), len(got["b"]))
	}
}

// failAt passes batches on until one holds the value at, then fails.
type failAt struct{ at int64 }

func (f failAt) Apply(ctx context.Context, b Batch, emit Emit) error {
	col := b.Record.Column(0).(*array.Int64)
	if slices.Contains(col.Int64Values(), f.at) {
		b.Release()
		return fmt.Errorf("value %d", f.at)
	}
	return emit(ctx, b)
}
func (failAt) Flush(context.Context, string, Emit) error { return nil }
func (failAt) Close() error                              { return nil }

// A transform's failure ends the run without a final commit: the rows it
// let through before are written but not made visible, and no position moves.
func TestRunTransformFailureCommitsNothingMore(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	src := &seqSource{mem: mem, units: []string{"a"}, rows: 1000, batch: 100}
	sink := newMemSink()
	pl := newTestPlan(t, src, sink)
	pl.Transforms = []Transform{failAt{at: 500}}
	pl.Pipeline.Transforms = []Component{{Plugin: "fail", Path: "transforms[0]"}}
	store := openStore(t, pl)
	_, err := pl.Run(context.Background(), RunOptions{Store: store})
	if err == nil || !strings.Contains(err.Error(), "value 500") {
		t.Fatalf("got error %v, want the transform's", err)
	}
	if len(sink.pending) != 500 || len(sink.visible) != 0 {
		t.Errorf("sink: %d rows written, %d visible; want 500 written, none visible", len(sink.pending), len(sink.visible))
	}
	if raw, _, _ := store.Get(context.Background(), unitKey("test", "a")); raw != nil {
		t.Errorf("unit a has a saved state %s after the failed run", raw)
	}
}

// A pipeline file's tick sets the run's (RunOptions.Tick, if set, wins); out
// of range or not a duration, it is an error at its place in the file.
func TestPipelineTick(t *testing.T) {
	file := func(tick string) []byte {
		return []byte("version: 1\nname: p\n" + tick + "source: {plugin: test-src}\nsinks: [{plugin: test-sink, config: {path: ./out}}]\n")
	}
	for _, tc := range []struct {
		tick string
		want time.Duration
		err  string
	}{
		{"", 0, ""},
		{"tick: 5ms\n", 5 * time.Millisecond, ""},
		{"tick: 0s\n", 0, "p.yaml:3:7: tick: must be between 1ms and 1m0s, got 0s"},
		{"tick: 2m\n", 0, "p.yaml:3:7: tick: must be between 1ms and 1m0s, got 2m0s"},
		{"tick: often\n", 0, "p.yaml:3:7: tick: "},
	} {
		p, err := ParsePipeline("p.yaml", file(tc.tick), func(string) (string, bool) { return "", false })
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.tick, err)
		case tc.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.err)):
			t.Errorf("%q: got error %v, want %q...", tc.tick, err, tc.err)
		case err == nil && p.Tick != tc.want:
			t.Errorf("%q: got tick %s, want %s", tc.tick, p.Tick, tc.want)
		}
	}

	// The run ticks at the file's pace: a 40ms tick releases the live
	// unit's rows no sooner than 40ms after they were read.
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	src := &seqSource{mem: mem, units: []string{"live/a"}, rows: 1000, batch: 100, block: make(chan struct{})}
	sink := newMemSink()
	pl := newTestPlan(t, liveSeq{src}, sink)
	pl.Pipeline.Tick = 40 * time.Millisecond
	pl.counters = &Counters{}
	released := make(chan struct{})
	h := &tickHolder{counters: pl.counters, released: released}
	pl.Transforms = []Transform{h}
	pl.Pipeline.Transforms = []Component{{Plugin: "hold", Path: "transforms[0]"}}
	store := openStore(t, pl)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	finished := make(chan error)
	start := time.Now()
	go func() {
		_, err := pl.Run(ctx, RunOptions{Store: store})
		finished <- err
	}()
	select {
	case <-released:
		if d := time.Since(start); d < 40*time.Millisecond {
			t.Errorf("first tick after %s, want >= the file's 40ms", d)
		}
	case <-time.After(5 * time.Second):
		t.Error("no tick released the live unit's rows")
	}
	cancel()
	if err := <-finished; err != nil {
		t.Fatal(err)
	}
}
