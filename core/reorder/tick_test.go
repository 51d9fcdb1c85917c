package reorder

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/core"
)

// TestTick drives a live unit (d1) and a batch unit (d2) with the same input
// on a fake wall clock: ticks release d1's rows when they are due on
// processing time, and never touch d2, which only Flush releases.
func TestTick(t *testing.T) {
	type step struct {
		at    time.Duration // wall clock, from the start
		apply string        // items applied to both units ("" : a Tick)
		want  string        // d1's rows out after the step
		pos   string        // d1's positions out after the step ("-": none)
		lag   time.Duration // the applied rows arrived this long before the clock (core.Arrival)
	}
	tests := []struct {
		name     string
		cfg      func(c *Config)
		steps    []step
		counts   map[string]int64 // counters after the live unit's flush
		wantLate int
	}{
		{
			name: "watermark moves with the wall clock between messages",
			cfg:  func(c *Config) { c.MaxDelay = 2 * time.Second },
			steps: []step{
				{0, "1000:a", "", "-", 0},
				{time.Second, "2000:b", "", "-", 0},
				{1500 * time.Millisecond, "", "", "-", 0},
				{2 * time.Second, "", "1000:a", "0", 0},
				{2900 * time.Millisecond, "", "1000:a", "-", 0},
				{3 * time.Second, "", "1000:a 2000:b", "1", 0},
			},
			counts: map[string]int64{},
		},
		{
			name: "out-of-order message still in time is sorted in",
			cfg:  func(c *Config) { c.MaxDelay = 2 * time.Second },
			steps: []step{
				{0, "1000:a", "", "-", 0},
				{2 * time.Second, "3000:c", "1000:a", "0", 0},
				{2010 * time.Millisecond, "2000:b", "1000:a", "-", 0}, // just after its successor
				{2990 * time.Millisecond, "", "1000:a", "-", 0},
				{3 * time.Second, "", "1000:a 2000:b", "-", 0}, // 3000:c still held: no position yet
				{4 * time.Second, "", "1000:a 2000:b 3000:c", "2", 0},
			},
			counts: map[string]int64{},
		},
		{
			name: "a successor arriving late does not hold a row past max_delay after its arrival",
			cfg:  func(c *Config) { c.MaxDelay = 2 * time.Second },
			steps: []step{
				{0, "1000:a", "", "-", 0},
				{1500 * time.Millisecond, "2000:b", "", "-", 0}, // 500ms behind its time
				{1990 * time.Millisecond, "", "", "-", 0},
				{2 * time.Second, "", "1000:a", "0", 0},
				{3 * time.Second, "", "1000:a 2000:b", "1", 0},
			},
			counts: map[string]int64{},
		},
		{
			name: "max_delay runs from the rows' arrival at the source, not from Apply",
			cfg:  func(c *Config) { c.MaxDelay = 2 * time.Second },
			steps: []step{
				{300 * time.Millisecond, "1000:a", "", "-", 300 * time.Millisecond}, // queued 300ms
				{1990 * time.Millisecond, "", "", "-", 0},
				{2 * time.Second, "", "1000:a", "0", 0},
			},
			counts: map[string]int64{},
		},
		{
			name: "a row older than those a tick released is late",
			cfg:  func(c *Config) { c.MaxDelay = time.Second },
			steps: []step{
				{0, "5000:e", "", "-", 0},
				{1500 * time.Millisecond, "", "5000:e", "0", 0},
				{1600 * time.Millisecond, "4000:late 6000:f", "5000:e", "-", 0},
			},
			counts:   map[string]int64{"reorder.late": 1, "reorder.dead_lettered": 1},
			wantLate: 1,
		},
		{
			name: "flush_timeout releases a quiet key on the wall clock (count mode)",
			cfg:  func(c *Config) { c.BufferSize = 5; c.FlushTimeout = 3 * time.Second },
			steps: []step{
				{0, "2000:b 1000:a", "", "-", 0},
				{2900 * time.Millisecond, "", "", "-", 0},
				{3 * time.Second, "", "1000:a 2000:b", "0", 0},
			},
			counts: map[string]int64{"reorder.timed_out": 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, mem, dl := newChecked(t, tt.cfg)
			counters := &core.Counters{}
			tr.counters = counters
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var now time.Time
			tr.clock = func() time.Time { return now }
			tr.LiveUnit("d1")
			c := newCollector()
			ctx := context.Background()
			for i, s := range tt.steps {
				now = start.Add(s.at)
				if s.apply != "" {
					actx := ctx
					if s.lag != 0 {
						actx = core.WithArrival(ctx, now.Add(-s.lag))
					}
					for _, u := range []string{"d1", "d2"} {
						if err := tr.Apply(actx, msgs(t, mem, u, i, s.apply), c.emit); err != nil {
							t.Fatal(err)
						}
					}
				} else if err := tr.Tick(ctx, now, c.emit); err != nil {
					t.Fatal(err)
				}
				if got := strings.Join(c.rows["d1"], " "); got != s.want {
					t.Errorf("step %d (at %s): d1 rows got %q, want %q", i, s.at, got, s.want)
				}
				pos := strings.Join(c.positions["d1"], ",")
				if pos == "" {
					pos = "-"
				}
				if pos != s.pos {
					t.Errorf("step %d (at %s): d1 positions got %s, want %s", i, s.at, pos, s.pos)
				}
				c.positions["d1"] = nil
			}
			if err := tr.Flush(ctx, "d1", c.emit); err != nil {
				t.Fatal(err)
			}
			if got := counters.Snapshot(); !maps.Equal(got, tt.counts) {
				t.Errorf("counters: got %v, want %v", got, tt.counts)
			}
			if len(dl.rows) != tt.wantLate {
				t.Errorf("dead letters: got %d, want %d", len(dl.rows), tt.wantLate)
			}
			// The batch unit is untouched by ticks: before and after its
			// flush it has what a transform without ticks gives.
			ref, err := New(tr.cfg, mem, nil, &deadLetters{})
			if err != nil {
				t.Fatal(err)
			}
			rc := newCollector()
			for i, s := range tt.steps {
				if s.apply != "" {
					if err := ref.Apply(ctx, msgs(t, mem, "d2", i, s.apply), rc.emit); err != nil {
						t.Fatal(err)
					}
				}
			}
			sameAsRef := func(when string) {
				t.Helper()
				if got, want := strings.Join(c.rows["d2"], " "), strings.Join(rc.rows["d2"], " "); got != want {
					t.Errorf("batch unit d2 %s: got %q, want %q (as without ticks)", when, got, want)
				}
			}
			sameAsRef("before its flush")
			if err := tr.Flush(ctx, "d2", c.emit); err != nil {
				t.Fatal(err)
			}
			if err := ref.Flush(ctx, "d2", rc.emit); err != nil {
				t.Fatal(err)
			}
			sameAsRef("after its flush")
			if err := ref.Close(); err != nil {
				t.Fatal(err)
			}
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
