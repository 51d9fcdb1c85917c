package serve

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/core"
)

// TestListenMetrics serves the metrics of finished runs as `etl run
// --metrics-addr` does, and checks the scrape.
func TestListenMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := NewMetrics()
	addr, err := ListenMetrics(ctx, "127.0.0.1:0", m)
	if err != nil {
		t.Fatal(err)
	}
	m.Touch("p")
	ended := time.Now()
	m.ObserveRun(Run{
		Pipeline: "p", Trigger: "run", Progress: core.NewProgress(), Ended: ended,
		Summary: &core.Summary{Duration: 2 * time.Second, DeadLetters: 3,
			Streams: []core.StreamCount{{Stream: "s", Rows: 10, Bytes: 800, Batches: 2}},
			Counts:  map[string]int64{"asi.gaps": 2, "reorder.late": 3},
			Failed:  map[string]error{"user/1": errors.New("revoked")}},
		Err: fmt.Errorf("x: %w", core.ErrUnitsFailed),
	})
	m.ObserveRun(Run{Pipeline: "p", Trigger: "run", Ended: ended,
		Summary: &core.Summary{Duration: time.Second, DeadLetters: 4, Streams: []core.StreamCount{{Stream: "s", Rows: 5, Bytes: 400, Batches: 1}},
			Counts: map[string]int64{"asi.gaps": 1}},
		Asked: map[string]time.Time{"user/2": ended.Add(-3 * time.Second)},
	})
	m.ObserveRun(Run{Pipeline: "p", Trigger: "run", Err: errors.New("sink broke")})
	got := body(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		`etl_rows_total{pipeline="p",stream="s"} 15`,
		`etl_batches_total{pipeline="p",stream="s"} 3`,
		`etl_bytes_total{pipeline="p",stream="s"} 1200`,
		`etl_errors_total{kind="unit",pipeline="p"} 1`,
		`etl_errors_total{kind="run",pipeline="p"} 1`,
		`etl_dead_letters_total{pipeline="p"} 7`, // 3 + 4: each summary counts its own run
		`etl_events_total{name="asi.gaps",pipeline="p"} 3`,
		`etl_events_total{name="reorder.late",pipeline="p"} 3`,
		`etl_runs_total{pipeline="p",result="units_failed",trigger="run"} 1`,
		`etl_runs_total{pipeline="p",result="ok",trigger="run"} 1`,
		`etl_runs_total{pipeline="p",result="failed",trigger="run"} 1`,
		`etl_run_duration_seconds_sum{pipeline="p",trigger="run"} 3`,
		`etl_unit_lag_seconds{pipeline="p",unit="user/2"} 3`,
		`etl_retries_total{pipeline="p"} 0`,
		`etl_rate_limit_waits_total{pipeline="p"} 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code := get(t, "http://"+addr+"/healthz"); code != 200 {
		t.Errorf("healthz: got %d, want 200", code)
	}
}

// TestMetricsLiveEvents: while a run goes, etl_events_total shows what its
// plan's Counters gained since the run began (not what earlier runs of the
// plan counted, already in); once the run is observed its summary takes over,
// counted once.
func TestMetricsLiveEvents(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := NewMetrics()
	addr, err := ListenMetrics(ctx, "127.0.0.1:0", m)
	if err != nil {
		t.Fatal(err)
	}
	c := &core.Counters{}
	c.Add("asi.gaps", 5) // an earlier run of the plan, observed below
	m.ObserveRun(Run{Pipeline: "p", Trigger: "run", Summary: &core.Summary{Counts: map[string]int64{"asi.gaps": 5}}})
	prog := core.NewProgress()
	m.Start("p", prog)
	m.StartCounters("p", c)
	c.Add("asi.gaps", 2)
	c.Add("reorder.late", 1)
	scrape := func(when string, want ...string) {
		t.Helper()
		got := body(t, "http://"+addr+"/metrics")
		for _, w := range want {
			if !strings.Contains(got, w+"\n") {
				t.Errorf("%s: /metrics lacks %q", when, w)
			}
		}
	}
	scrape("during the run", `etl_events_total{name="asi.gaps",pipeline="p"} 7`, `etl_events_total{name="reorder.late",pipeline="p"} 1`)
	c.Add("reorder.late", 1)
	m.ObserveRun(Run{Pipeline: "p", Trigger: "run", Progress: prog,
		Summary: &core.Summary{Counts: map[string]int64{"asi.gaps": 2, "reorder.late": 2}}})
	c.Add("reorder.late", 10) // after the run: no longer shown
	scrape("after the run", `etl_events_total{name="asi.gaps",pipeline="p"} 7`, `etl_events_total{name="reorder.late",pipeline="p"} 2`)
}
