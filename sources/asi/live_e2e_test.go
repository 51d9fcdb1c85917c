package asi

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/core"
	_ "github.com/etl-toolkit/etl/core/reorder"
	"github.com/etl-toolkit/etl/sources/asi/asitest"
)

// TestLiveThroughReorderToParquet streams two devices whose messages arrive
// out of order and late, through reorder into Parquet files rolling every 20
// rows, and stops the run: every row received is committed, each device's
// rows are in event-time order across the files, late rows are in the dead
// letters, and nothing else is lost.
func TestLiveThroughReorderToParquet(t *testing.T) {
	opts := asitest.DefaultOptions()
	opts.Now = opts.Start.Add(10 * time.Minute)
	l := newLake(t, opts)
	l.emu.SetLive(asitest.Live{Speed: 25, OutOfOrderEvery: 3, LateEvery: 7, LateBy: 4})
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
    streams: [live_preprocessed]
    devices: [1, 2]
    groups: [gnss]
transforms:
  - plugin: reorder
    config: { time: timestamp, max_delay: 2s, late: dead_letter, streams: [asi.preprocessed.*] }
sinks:
  - plugin: parquet
    config:
      path: %s
      partition_by: [stream]
      roll: { rows: 20 }
`, filepath.Join(l.dir, "state"), filepath.Join(l.dir, "dead.jsonl"), c.BaseURL, c.ClientID, c.Managers[0].Username, filepath.Join(l.dir, "out"))
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
	// Stopped as by a signal or --duration: the context is cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(3*time.Second, cancel)
	sum, err := pl.Run(ctx, core.RunOptions{Store: store, MaxTries: 3})
	if err != nil {
		t.Fatalf("run: %v (failed units: %v)", err, sum.Failed)
	}
	if !sum.Interrupted || sum.Files < 2 {
		t.Errorf("summary: got interrupted %v and %d files, want an interrupted run and rolled files", sum.Interrupted, sum.Files)
	}
	sent := l.emu.LiveStats().Sent
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
	// One GNSS row per message at 1 Hz: rows written + dead letters = messages
	// received, which is every message sent but those in flight when the run
	// stopped (at most one per device).
	if got := int64(total) + sum.DeadLetters; got > sent || got < sent-2 {
		t.Errorf("rows %v + dead letters %d = %d, want the %d messages sent (less at most 2 in flight)", total, sum.DeadLetters, got, sent)
	}
	if sum.DeadLetters == 0 {
		t.Errorf("dead letters: got 0, want the late rows")
	}
}

func quoteGlob(s string) string { return "'" + s + "'" }
