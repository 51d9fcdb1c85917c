package asi

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/core"
	_ "github.com/etl-toolkit/etl/core/reorder"
	"github.com/etl-toolkit/etl/sources/asi/asitest"
)

// runLivePipeline runs a live pipeline of the lake (source config lines,
// reorder's config, then the transforms after it) into Parquet files rolling
// every 20 rows until stop ends its context (nil: until the units end by
// themselves), and returns its summary and the messages the source received.
func runLivePipeline(t *testing.T, l *lake, source, reorder, after string, stop func(context.Context) (context.Context, context.CancelFunc)) (*core.Summary, int64) {
	t.Helper()
	c := l.emu.Credentials()
	pipeline := fmt.Sprintf(`version: 1
name: asi-live-test
state: %s
concurrency: 4
dead_letter: { path: %s }
commit: { interval: 1h }
source:
  plugin: asi
  config:
    base_url: %s
    client_id: %s
    client_secret: ${ASI_CLIENT_SECRET}
    username: %s
    password: ${ASI_PASSWORD}
%s
transforms:
  - plugin: reorder
    config: %s
%s
sinks:
  - plugin: parquet
    config:
      path: %s
      partition_by: [stream]
      roll: { rows: 20 }
`, filepath.Join(l.dir, "state"), filepath.Join(l.dir, "dead.jsonl"), c.BaseURL, c.ClientID, c.Managers[0].Username,
		indent(source, "    "), reorder, after, filepath.Join(l.dir, "out"))
	p, err := core.ParsePipeline(filepath.Join(l.dir, "p.yaml"), []byte(pipeline), func(k string) (string, bool) {
		v, ok := testEnv[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	pl, err := core.Build(context.Background(), p, testLogger())
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	defer pl.Close()
	store, err := core.OpenBoltStore(p.StatePath())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if stop != nil {
		ctx, cancel = stop(ctx)
		defer cancel()
	}
	sum, err := pl.Run(ctx, core.RunOptions{Store: store, MaxTries: 3})
	if err != nil {
		t.Fatalf("run: %v (failed units: %v)", err, sum.Failed)
	}
	return sum, pl.Source.(*Source).LiveStats().Messages
}

// TestLiveThroughReorderToParquet streams two devices whose messages arrive
// out of order and late, through reorder into Parquet files rolling every 20
// rows, and stops the run as a signal does (a cancel) and as --duration does
// (a deadline): every row received is committed, each device's rows are in
// event-time order across the files, late rows are in the dead letters and
// counted, and nothing else is lost.
func TestLiveThroughReorderToParquet(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(context.Context) (context.Context, context.CancelFunc)
	}{
		{"signal", func(ctx context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(3*time.Second, cancel)
			return ctx, cancel
		}},
		{"duration", func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, 3*time.Second)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := asitest.DefaultOptions()
			opts.Now = opts.Start.Add(10 * time.Minute)
			l := newLake(t, opts)
			l.emu.SetLive(asitest.Live{Speed: 25, OutOfOrderEvery: 3, LateEvery: 7, LateBy: 4})
			sum, received := runLivePipeline(t, l, "streams: [live_preprocessed]\ndevices: [1, 2]\ngroups: [gnss]",
				"{ time: timestamp, max_delay: 2s, late: dead_letter, streams: [asi.preprocessed.*] }", "", tc.stop)
			if !sum.Interrupted || sum.Files < 2 {
				t.Errorf("summary: got interrupted %v and %d files, want an interrupted run and rolled files", sum.Interrupted, sum.Files)
			}
			rows := l.query(`SELECT device_id, count(*) AS n, count(DISTINCT timestamp) AS distinct_ts,
				sum(CASE WHEN timestamp < prev THEN 1 ELSE 0 END) AS backwards
				FROM (SELECT device_id, timestamp, lag(timestamp) OVER (PARTITION BY device_id ORDER BY filename, file_row_number) AS prev
				      FROM read_parquet(` + quoteGlob(filepath.Join(l.dir, "out", "stream=asi.preprocessed.gnss", "*.parquet")) + `, filename = true, file_row_number = true))
				GROUP BY device_id ORDER BY device_id`)
			if len(rows) != 2 {
				t.Fatalf("devices: got %v, want 2", rows)
			}
			var total float64
			for _, r := range rows {
				if num(r["backwards"]) != 0 || num(r["n"]) != num(r["distinct_ts"]) || num(r["n"]) < 10 {
					t.Errorf("device %v: got %v, want at least 10 rows, in order, no duplicates", r["device_id"], r)
				}
				total += num(r["n"])
			}
			// One GNSS row per message at 1 Hz: rows written + dead letters =
			// messages received = messages the emulator sent, the ones on
			// their way as the stop came included (the stop drains the
			// sockets before it commits).
			sent := l.emu.LiveStats().Sent
			if got := int64(total) + sum.DeadLetters; got != received || received != sent {
				t.Errorf("rows %v + dead letters %d = %d, received %d, sent %d: want all three equal", total, sum.DeadLetters, got, received, sent)
			}
			if sum.DeadLetters == 0 || sum.Counts["reorder.late"] != sum.DeadLetters || sum.Counts["reorder.dead_lettered"] != sum.DeadLetters {
				t.Errorf("dead letters %d, counts %v: want the late rows, each counted as late and dead-lettered", sum.DeadLetters, sum.Counts)
			}
		})
	}
}

// TestLiveTimeframeEndCommits streams time frame 1 from 20 s before its end
// through reorder: the run ends by itself at the time frame's end, with
// reorder flushed and every message received committed, in order.
func TestLiveTimeframeEndCommits(t *testing.T) {
	opts := asitest.DefaultOptions()
	opts.Now = opts.Start.Add(opts.Session - 20*time.Second)
	l := newLake(t, opts)
	l.emu.SetLive(asitest.Live{Speed: 40, OutOfOrderEvery: 3})
	sum, received := runLivePipeline(t, l, "streams: [live_computed]\ntimeframes: [1]",
		"{ time: last_timestamp, max_delay: 5s, late: dead_letter }", "", nil)
	if sum.Interrupted || sum.Units != 1 || len(sum.Failed) != 0 {
		t.Errorf("summary: got interrupted %v, %d units, failed %v; want the unit ended by itself", sum.Interrupted, sum.Units, sum.Failed)
	}
	rows := l.query(`SELECT count(*) AS n, sum(CASE WHEN last_timestamp < prev THEN 1 ELSE 0 END) AS backwards
		FROM (SELECT last_timestamp, lag(last_timestamp) OVER (ORDER BY filename, file_row_number) AS prev
		      FROM read_parquet(` + quoteGlob(filepath.Join(l.dir, "out", "stream=asi.computed.live", "*.parquet")) + `, filename = true, file_row_number = true))`)
	if n := int64(num(rows[0]["n"])); n != received || n < 15 || num(rows[0]["backwards"]) != 0 || sum.DeadLetters != 0 {
		t.Errorf("committed %v rows (%v backwards), %d dead letters; want the %d messages received (about 20), in order", rows[0]["n"], rows[0]["backwards"], sum.DeadLetters, received)
	}
}

func quoteGlob(s string) string { return "'" + s + "'" }

// released counts the rows the test_released probe saw (after reorder, on
// their way to the sink).
var released atomic.Int64

func init() {
	core.RegisterTransform("test_released", core.Factory[core.Transform]{Doc: "test probe: counts rows", Options: struct{}{},
		New: func(context.Context, core.Env) (core.Transform, error) { return releasedProbe{}, nil }})
}

type releasedProbe struct{}

func (releasedProbe) Apply(ctx context.Context, b core.Batch, emit core.Emit) error {
	released.Add(b.Rows())
	return emit(ctx, b)
}
func (releasedProbe) Flush(context.Context, string, core.Emit) error { return nil }
func (releasedProbe) Close() error                                   { return nil }

// TestLiveQuietDeviceReleasedByTicks streams a device at 10 Hz that goes
// quiet after 5 messages: no newer row comes to move reorder's watermark,
// yet its ticks release every row received max_delay after its arrival, long
// before the run stops (which would flush them anyway).
func TestLiveQuietDeviceReleasedByTicks(t *testing.T) {
	opts := asitest.DefaultOptions()
	opts.Now, opts.Rate = opts.Start.Add(10*time.Minute), 10
	l := newLake(t, opts)
	l.emu.SetLive(asitest.Live{Rate: 10, Speed: 1, DisconnectEvery: 5, DisconnectFor: 1000})
	released.Store(0)
	var atStop int64
	sum, received := runLivePipeline(t, l, "streams: [live_preprocessed]\ndevices: [1]\ngroups: [gnss]",
		"{ time: timestamp, max_delay: 300ms, late: dead_letter }", "  - plugin: test_released",
		func(ctx context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(2*time.Second, func() { atStop = released.Load(); cancel() })
			return ctx, cancel
		})
	if received != 5 || atStop != 5 || sum.Rows() != 5 {
		t.Errorf("got %d messages, %d rows released before the stop and %d committed; want all 5 released by ticks", received, atStop, sum.Rows())
	}
}

// gate is the test_gate probe: while closed (gateShut), Apply waits for
// gateOpen, holding the run goroutine as a slow sink would.
var (
	gateShut atomic.Bool
	gateOpen chan struct{}
)

func init() {
	core.RegisterTransform("test_gate", core.Factory[core.Transform]{Doc: "test probe: holds rows while shut", Options: struct{}{},
		New: func(context.Context, core.Env) (core.Transform, error) { return gateProbe{}, nil }})
}

type gateProbe struct{}

func (gateProbe) Apply(ctx context.Context, b core.Batch, emit core.Emit) error {
	if gateShut.Load() {
		<-gateOpen
	}
	return emit(ctx, b)
}
func (gateProbe) Flush(context.Context, string, core.Emit) error { return nil }
func (gateProbe) Close() error                                   { return nil }

// TestLiveStopDrainsBacklog holds the pipeline for a second before the stop,
// so that messages pile up in the runner's queue, in the source waiting to
// emit and in the sockets, then stops the run and lets it go on: every
// message the emulator sent is committed (or dead-lettered), none is left
// behind in a queue or a socket.
func TestLiveStopDrainsBacklog(t *testing.T) {
	opts := asitest.DefaultOptions()
	opts.Now = opts.Start.Add(10 * time.Minute)
	l := newLake(t, opts)
	l.emu.SetLive(asitest.Live{Speed: 50})
	gateOpen = make(chan struct{})
	gateShut.Store(false)
	var sentAtStop int64
	sum, received := runLivePipeline(t, l, "streams: [live_preprocessed]\ndevices: [1, 2, 3, 4]\ngroups: [gnss]",
		"{ time: timestamp, max_delay: 100ms, late: dead_letter }", "  - plugin: test_gate",
		func(ctx context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(time.Second, func() { gateShut.Store(true) })
			time.AfterFunc(2*time.Second, func() {
				sentAtStop = l.emu.LiveStats().Sent
				cancel()
				close(gateOpen)
			})
			return ctx, cancel
		})
	sent := l.emu.LiveStats().Sent
	rows := l.query(`SELECT count(*) AS n FROM read_parquet(` + quoteGlob(filepath.Join(l.dir, "out", "stream=asi.preprocessed.gnss", "*.parquet")) + `)`)
	committed := int64(num(rows[0]["n"]))
	if committed+sum.DeadLetters != sent || received != sent || sentAtStop < 100 {
		t.Errorf("committed %d + dead letters %d, received %d, sent %d (%d before the stop): want every message sent (at least 100) received and committed",
			committed, sum.DeadLetters, received, sent, sentAtStop)
	}
}
