package reorder

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestReorder(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(c *Config)
		in      []string // batches of unit "d1", items "t:v"
		want    string   // rows out, in order
		wantPos string   // positions out after each Apply, then Flush ("-" none)
		stats   Stats
	}{
		{
			name:    "watermark releases in order",
			cfg:     func(c *Config) { c.MaxDelay = 2 * time.Millisecond },
			in:      []string{"2:b 1:a", "4:d 3:c", "6:f 5:e"},
			want:    "1:a 2:b 3:c 4:d 5:e 6:f",
			wantPos: "- 0 1 2",
			stats:   Stats{Released: 6},
		},
		{
			name:    "late rows are dead-lettered and counted",
			cfg:     func(c *Config) { c.MaxDelay = 1 * time.Millisecond },
			in:      []string{"1:a 3:c 5:e", "2:late 4:late 6:f"},
			want:    "1:a 3:c 4:late 5:e 6:f",
			wantPos: "- 0 1",
			stats:   Stats{Released: 5, Late: 1, DeadLettered: 1},
		},
		{
			name:    "late rows dropped",
			cfg:     func(c *Config) { c.MaxDelay = 1 * time.Millisecond; c.Late = LateDrop },
			in:      []string{"1:a 3:c 5:e", "2:late 4:late 6:f"},
			want:    "1:a 3:c 4:late 5:e 6:f",
			wantPos: "- 0 1",
			stats:   Stats{Released: 5, Late: 1},
		},
		{
			name:    "late rows passed at once",
			cfg:     func(c *Config) { c.MaxDelay = 1 * time.Millisecond; c.Late = LatePass },
			in:      []string{"1:a 3:c 5:e", "2:late 4:late 6:f"},
			want:    "1:a 3:c 2:late 4:late 5:e 6:f",
			wantPos: "- 0 1",
			stats:   Stats{Released: 6, Late: 1},
		},
		{
			name:    "buffer of 2 rows, like the server's buffer_size",
			cfg:     func(c *Config) { c.BufferSize = 2 },
			in:      []string{"3:c 1:a", "2:b", "5:e 4:d", "0:late"},
			want:    "1:a 2:b 3:c 4:d 5:e",
			wantPos: "- - 1 - 3",
			stats:   Stats{Released: 5, Late: 1, DeadLettered: 1},
		},
		{
			name:    "exact duplicates dropped, same time with other values kept",
			cfg:     func(c *Config) { c.MaxDelay = 1 * time.Millisecond },
			in:      []string{"1:a 1:a 2:b", "1:a 2:x 2:b 3:c", "3:c"},
			want:    "1:a 2:b 2:x 3:c",
			wantPos: "- 0 - 2",
			stats:   Stats{Released: 4, Duplicates: 4},
		},
		{
			name:    "null event times go out at once",
			cfg:     func(c *Config) { c.MaxDelay = 5 * time.Millisecond },
			in:      []string{"2:b null:n 1:a"},
			want:    "null:n 1:a 2:b",
			wantPos: "- 0",
			stats:   Stats{Released: 3},
		},
		{
			name:    "empty batch passes its position once earlier rows are out",
			cfg:     func(c *Config) { c.MaxDelay = 1 * time.Millisecond },
			in:      []string{"5:a", "", "7:b"},
			want:    "5:a 7:b",
			wantPos: "- - 1 2",
			stats:   Stats{Released: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, mem, dl := newChecked(t, tt.cfg)
			c := newCollector()
			var pos []string
			step := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				p := c.positions["d1"]
				if len(p) == 0 {
					pos = append(pos, "-")
				} else {
					pos = append(pos, strings.Join(p, ","))
				}
				c.positions["d1"] = nil
			}
			for i, items := range tt.in {
				step(tr.Apply(context.Background(), msgs(t, mem, "d1", i, items), c.emit))
			}
			step(tr.Flush(context.Background(), "d1", c.emit))
			if got := strings.Join(c.rows["d1"], " "); got != tt.want {
				t.Errorf("rows: got %s, want %s", got, tt.want)
			}
			if got := strings.Join(pos, " "); got != tt.wantPos {
				t.Errorf("positions after each call: got %s, want %s", got, tt.wantPos)
			}
			if got := tr.Stats(); got != tt.stats {
				t.Errorf("stats: got %+v, want %+v", got, tt.stats)
			}
			if got := int64(len(dl.rows)); got != tt.stats.DeadLettered {
				t.Errorf("dead letters: got %d, want %d", got, tt.stats.DeadLettered)
			}
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLateDeadLetter(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cfg := DefaultConfig()
	cfg.MaxDelay = time.Millisecond
	dl := &deadLetters{}
	tr, err := New(cfg, mem, nil, dl)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c := newCollector()
	for i, items := range []string{"1000:a 3000:c 5000:e", "2000:late"} {
		if err := tr.Apply(context.Background(), msgs(t, mem, "d1", i, items), c.emit); err != nil {
			t.Fatal(err)
		}
	}
	if len(dl.rows) != 1 {
		t.Fatalf("dead letters: got %d, want 1", len(dl.rows))
	}
	d := dl.rows[0]
	if d.Stream != "asi.test" || d.Unit != "d1" || d.Component != "reorder" {
		t.Errorf("dead letter: got stream %q unit %q component %q, want asi.test d1 reorder", d.Stream, d.Unit, d.Component)
	}
	wantReason := "late: event time 1970-01-01T00:00:02Z is older than 1970-01-01T00:00:03Z, already released"
	if d.Reason != wantReason {
		t.Errorf("reason: got %q, want %q", d.Reason, wantReason)
	}
	if got, want := string(d.Value), `{"timeframe":0,"timestamp":2000,"v":"late"}`; got != want {
		t.Errorf("value: got %s, want %s", got, want)
	}
}

// TestKeys checks that rows are ordered per key column within a unit, and
// that flush_timeout releases a key left behind by its stream.
func TestKeys(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cfg := DefaultConfig()
	cfg.MaxDelay = 10 * time.Millisecond
	cfg.FlushTimeout = 20 * time.Millisecond
	cfg.Key = []string{"timeframe"}
	tr, err := New(cfg, mem, nil, &deadLetters{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c := newCollector()
	in := []string{
		"5:a5@1 100:b100@2", // key 1 at 5, key 2 at 100: key 1 is 95 behind
		"1:a1@1",            // late for key 1: it was flushed by the timeout
		"120:b120@2 90:b90@2",
	}
	for i, items := range in {
		if err := tr.Apply(context.Background(), msgs(t, mem, "act", i, items), c.emit); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Flush(context.Background(), "act", c.emit); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(c.rows["act"], " "), "5:a5 100:b100 120:b120"; got != want {
		t.Errorf("rows: got %s, want %s", got, want)
	}
	want := Stats{Released: 3, Late: 2, DeadLettered: 2, TimedOut: 1}
	if got := tr.Stats(); got != want {
		t.Errorf("stats: got %+v, want %+v", got, want)
	}
}

// TestDeterministic checks that a shuffled stream of many devices comes out
// sorted per device, with the same output on a second run (a replay).
func TestDeterministic(t *testing.T) {
	run := func() map[string][]string {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		cfg := DefaultConfig()
		cfg.BufferSize = 3
		tr, err := New(cfg, mem, nil, &deadLetters{})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		c := newCollector()
		units := []string{"d1", "d2", "d3"}
		for i := range 60 {
			// Swap each pair of neighbours: every message arrives just
			// after its successor, the most common disorder.
			t0 := i ^ 1
			u := units[i%3]
			if err := tr.Apply(context.Background(), msgs(t, mem, u, i, itoa(t0)+":x"), c.emit); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range units {
			if err := tr.Flush(context.Background(), u, c.emit); err != nil {
				t.Fatal(err)
			}
		}
		return c.rows
	}
	a, b := run(), run()
	for u, rows := range a {
		if !slices.IsSortedFunc(rows, func(x, y string) int { return atoi(x) - atoi(y) }) {
			t.Errorf("unit %s: got %v, want sorted", u, rows)
		}
		if len(rows) != 20 {
			t.Errorf("unit %s: got %d rows, want 20", u, len(rows))
		}
		if !slices.Equal(rows, b[u]) {
			t.Errorf("unit %s: second run got %v, want %v", u, b[u], rows)
		}
	}
}
