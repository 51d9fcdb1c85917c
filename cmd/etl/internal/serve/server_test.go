package serve

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

const azumioName = "azumio-serve"

// currentSteps returns user/id/version of the current version of each of
// user's steps check-ins at the emulator, sorted.
func currentSteps(emu *azumiotest.Server, users ...string) []string {
	var out []string
	for _, u := range users {
		for _, r := range emu.Checkins(u) {
			if r.Type == "steps" {
				out = append(out, fmt.Sprintf("%s/%s/%d", r.User, r.ID, r.Version))
			}
		}
	}
	slices.Sort(out)
	return out
}

func assertOnce(t *testing.T, rows []string) {
	t.Helper()
	for i := 1; i < len(rows); i++ {
		if rows[i] == rows[i-1] {
			t.Errorf("row %s exported more than once", rows[i])
		}
	}
}

// assertContains checks that every one of want is among got.
func assertContains(t *testing.T, got, want []string) {
	t.Helper()
	for _, w := range want {
		if _, ok := slices.BinarySearch(got, w); !ok {
			t.Errorf("check-in version %s not exported", w)
		}
	}
}

// TestAzumioWebhookPullsOnlyThatUser: the emulator fires its real webhook at a
// real server on loopback after a change; only the subscribed user is pulled,
// and after a second change every version is in the output exactly once.
func TestAzumioWebhookPullsOnlyThatUser(t *testing.T) {
	emu := azumiotest.NewServer(t, azumiotest.Options{Seed: 7, Users: 3, Checkins: 30, Types: []string{"steps", "sleeptime"}})
	dir := t.TempDir()
	cfg := &Config{Queue: 100, ShutdownGrace: 10 * time.Second, Pipelines: []PipelineConfig{{File: azumioPipeline(t, emu, dir, 10), Azumio: true}}}
	srv := start(t, cfg, nil)
	subscribe(t, emu, "10002", srv.URL+"/hooks/azumio/"+azumioName)

	emu.Advance(time.Hour, azumiotest.Changes{New: 2, Edited: 1})
	for _, d := range emu.Deliveries() {
		if d.Status != http.StatusAccepted || d.User != "10002" {
			t.Errorf("delivery %+v: got status %d for user %s, want 202 for 10002 only", d, d.Status, d.User)
		}
	}
	waitFor(t, "the first pull", func() bool { return srv.Runs(azumioName) == 1 })
	got := csvRows(t, filepath.Join(dir, "out"))
	if want := currentSteps(emu, "10002"); !slices.Equal(got, want) {
		t.Fatalf("after the first webhook: got %d rows %v, want user 10002's %d steps check-ins %v", len(got), got, len(want), want)
	}

	emu.Advance(time.Hour, azumiotest.Changes{New: 1, Edited: 2, Deleted: 1})
	waitFor(t, "the second pull", func() bool { return srv.Runs(azumioName) == 2 })
	got = csvRows(t, filepath.Join(dir, "out"))
	assertOnce(t, got)
	assertContains(t, got, currentSteps(emu, "10002"))
	for _, r := range got {
		if !strings.HasPrefix(r, "10002/") {
			t.Errorf("got row %s, want user 10002's only", r)
		}
	}

	m := body(t, srv.URL+"/metrics")
	for _, want := range []string{
		`etl_rows_total{pipeline="azumio-serve",stream="azumio.checkins.steps"} ` + strconv.Itoa(len(got)),
		`etl_webhook_events_total{pipeline="azumio-serve",receiver="azumio",result="accepted"} 2`,
		`etl_runs_total{pipeline="azumio-serve",result="ok",trigger="webhook"} 2`,
		`etl_run_duration_seconds_count{pipeline="azumio-serve",trigger="webhook"} 2`,
		`etl_unit_lag_seconds{pipeline="azumio-serve",unit="user/10002"} `,
		`etl_batches_total{pipeline="azumio-serve",stream="azumio.checkins.steps"} `,
		`etl_bytes_total{pipeline="azumio-serve",stream="azumio.checkins.steps"} `,
		`etl_errors_total{kind="unit",pipeline="azumio-serve"} 0`,
		`etl_errors_total{kind="run",pipeline="azumio-serve"} 0`,
		`etl_retries_total{pipeline="azumio-serve"} 0`,
		`etl_rate_limit_waits_total{pipeline="azumio-serve"} 0`,
		`etl_dead_letters_total{pipeline="azumio-serve"} 0`,
		`etl_queue_pending_units{pipeline="azumio-serve"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestBurstCoalesces: 100 notifications for one user while its pull runs
// lead to at most 2 pulls; every call is answered 202 within a second.
func TestBurstCoalesces(t *testing.T) {
	emu := azumiotest.NewServer(t, azumiotest.Options{Seed: 3, Users: 2, Checkins: 40, Types: []string{"steps"}})
	dir := t.TempDir()
	cfg := &Config{Queue: 100, ShutdownGrace: 10 * time.Second, Pipelines: []PipelineConfig{{File: azumioPipeline(t, emu, dir, 10), Azumio: true}}}
	srv := start(t, cfg, nil)
	// Every API answer takes 50 ms, so a pull lasts longer than the burst.
	emu.SlowDelay.Store(int64(50 * time.Millisecond))
	emu.Slow.Store(1 << 20)

	hook := srv.URL + "/hooks/azumio/" + azumioName + "?user=10001"
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			if code := post(t, hook, nil, ""); code != http.StatusAccepted {
				t.Errorf("call %d: got status %d, want 202", i, code)
			}
			if d := time.Since(began); d > time.Second {
				t.Errorf("call %d answered after %s, want under a second", i, d)
			}
		}()
	}
	wg.Wait()
	emu.Slow.Store(0)
	waitFor(t, "the pulls", func() bool {
		return srv.Runs(azumioName) >= 1 && srv.pipes[azumioName].q.pending() == 0 && !strings.Contains(body(t, srv.URL+"/metrics"), `etl_queue_pending_units{pipeline="azumio-serve"} 1`)
	})
	// Let a second pull, if one was queued, finish.
	time.Sleep(200 * time.Millisecond)
	waitFor(t, "idle", func() bool { return len(srv.pipes[azumioName].q.wake) == 0 })
	if n := srv.Runs(azumioName); n < 1 || n > 2 {
		t.Errorf("got %d pulls for a burst of 100, want 1 or 2", n)
	}
	got := csvRows(t, filepath.Join(dir, "out"))
	if want := currentSteps(emu, "10001"); !slices.Equal(got, want) {
		t.Errorf("got %d rows, want user 10001's %d, once", len(got), len(want))
	}
	m := body(t, srv.URL+"/metrics")
	if want := `etl_webhook_events_total{pipeline="azumio-serve",receiver="azumio",result="accepted"} 100`; !strings.Contains(m, want) {
		t.Errorf("/metrics lacks %q", want)
	}
}

// TestScheduleFires drives a schedule in a time zone with a test clock: it
// fires at 02:00 Zurich time, not before, and runs every unit.
func TestScheduleFires(t *testing.T) {
	emu := azumiotest.NewServer(t, azumiotest.Options{Seed: 5, Users: 2, Checkins: 20, Types: []string{"steps"}})
	dir := t.TempDir()
	clock := newFakeClock(time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC)) // 01:30 in Zurich
	cfg := &Config{Queue: 100, ShutdownGrace: 10 * time.Second, Pipelines: []PipelineConfig{{
		File: azumioPipeline(t, emu, dir, 10), Schedule: "CRON_TZ=Europe/Zurich 0 2 * * *",
	}}}
	srv := start(t, cfg, clock)
	waitFor(t, "the schedule to wait", func() bool { return clock.Waiting() == 1 })
	clock.Advance(29 * time.Minute)
	time.Sleep(50 * time.Millisecond)
	if n := srv.Runs(azumioName); n != 0 || clock.Waiting() != 1 {
		t.Fatalf("at 01:59 Zurich: got %d runs, want none yet", n)
	}
	clock.Advance(time.Minute)
	waitFor(t, "the scheduled run", func() bool { return srv.Runs(azumioName) == 1 })
	got := csvRows(t, filepath.Join(dir, "out"))
	if want := currentSteps(emu, "10001", "10002"); !slices.Equal(got, want) {
		t.Errorf("got %d rows, want every user's %d", len(got), len(want))
	}
	if m := body(t, srv.URL+"/metrics"); !strings.Contains(m, `etl_runs_total{pipeline="azumio-serve",result="ok",trigger="schedule"} 1`) {
		t.Errorf("/metrics lacks the scheduled run:\n%s", grep(m, "etl_runs_total"))
	}
	waitFor(t, "the next firing to wait", func() bool { return clock.Waiting() == 1 })
}

func grep(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestShutdownDuringPullCommits stops the server while a pull is half-way
// (the grace period over at once): what it read is committed, and the next
// server's pull exports the rest, every version exactly once.
func TestShutdownDuringPullCommits(t *testing.T) {
	emu := azumiotest.NewServer(t, azumiotest.Options{Seed: 9, Users: 1, Checkins: 200, Types: []string{"steps"}})
	dir := t.TempDir()
	file := azumioPipeline(t, emu, dir, 10)
	cfg := &Config{Queue: 100, ShutdownGrace: time.Millisecond, Pipelines: []PipelineConfig{{File: file, Azumio: true}}}
	srv := start(t, cfg, nil)
	emu.SlowDelay.Store(int64(20 * time.Millisecond))
	emu.Slow.Store(1 << 20)
	checkins := func() int {
		n := 0
		for _, r := range emu.RequestLog() {
			if strings.Contains(r, "/api2/checkins") {
				n++
			}
		}
		return n
	}
	if code := post(t, srv.URL+"/hooks/azumio/"+azumioName+"/10001", nil, ""); code != http.StatusAccepted {
		t.Fatalf("got status %d, want 202", code)
	}
	waitFor(t, "the pull to read some pages", func() bool { return checkins() >= 3 })
	// The running pull's rows show on /metrics before it ends.
	waitFor(t, "live rows on /metrics", func() bool {
		return strings.Contains(body(t, srv.URL+"/metrics"), `etl_rows_total{pipeline="azumio-serve",stream="azumio.checkins.steps"}`)
	})
	if n := srv.Runs(azumioName); n != 0 {
		t.Fatalf("got %d pulls ended while the first should run", n)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	emu.Slow.Store(0)
	if n := srv.Runs(azumioName); n != 1 {
		t.Fatalf("got %d pulls ended, want 1", n)
	}
	first := csvRows(t, filepath.Join(dir, "out"))
	want := currentSteps(emu, "10001")
	if len(first) == 0 || len(first) >= len(want) {
		t.Fatalf("after a stop half-way: got %d rows committed, want some of %d", len(first), len(want))
	}

	cfg.ShutdownGrace = 10 * time.Second
	srv = start(t, cfg, nil)
	if code := post(t, srv.URL+"/hooks/azumio/"+azumioName+"/10001", nil, ""); code != http.StatusAccepted {
		t.Fatalf("got status %d, want 202", code)
	}
	waitFor(t, "the second pull", func() bool { return srv.Runs(azumioName) == 1 })
	if got := csvRows(t, filepath.Join(dir, "out")); !slices.Equal(got, want) {
		t.Errorf("after the resumed pull: got %d rows, want %d, each once", len(got), len(want))
	}
}

// TestQueuedWorkDroppedAtStopIsPickedUpLater: a webhook answered 202 whose
// pull never ran (the server stopped first, as after a crash) loses nothing:
// the next scheduled run exports the change from the cursor, exactly once.
func TestQueuedWorkDroppedAtStopIsPickedUpLater(t *testing.T) {
	emu := azumiotest.NewServer(t, azumiotest.Options{Seed: 11, Users: 2, Checkins: 100, Types: []string{"steps"}})
	dir := t.TempDir()
	file := azumioPipeline(t, emu, dir, 10)
	cfg := &Config{Queue: 100, ShutdownGrace: time.Millisecond, Pipelines: []PipelineConfig{{File: file, Azumio: true, Schedule: "@every 1h"}}}
	clock := newFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := start(t, cfg, clock)
	emu.SlowDelay.Store(int64(20 * time.Millisecond))
	emu.Slow.Store(1 << 20)
	hook := srv.URL + "/hooks/azumio/" + azumioName + "/"
	if code := post(t, hook+"10001", nil, ""); code != http.StatusAccepted {
		t.Fatalf("got status %d, want 202", code)
	}
	waitFor(t, "the first pull to start", func() bool { return len(emu.RequestLog()) > 0 })
	if code := post(t, hook+"10002", nil, ""); code != http.StatusAccepted {
		t.Fatalf("got status %d, want 202", code)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	emu.Slow.Store(0)
	for _, r := range csvRows(t, filepath.Join(dir, "out")) {
		if strings.HasPrefix(r, "10002/") {
			t.Fatalf("got row %s, want user 10002 not pulled before the stop", r)
		}
	}

	cfg.ShutdownGrace = 10 * time.Second
	clock = newFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	srv = start(t, cfg, clock)
	waitFor(t, "the schedule to wait", func() bool { return clock.Waiting() == 1 })
	clock.Advance(time.Hour)
	waitFor(t, "the scheduled run", func() bool { return srv.Runs(azumioName) == 1 })
	if got, want := csvRows(t, filepath.Join(dir, "out")), currentSteps(emu, "10001", "10002"); !slices.Equal(got, want) {
		t.Errorf("after the scheduled run: got %d rows, want both users' %d, each once", len(got), len(want))
	}
}

// TestQueueOverflowRunsEverything: with room for one waiting unit, a second
// distinct unit turns the waiting work into one full run, which exports every
// user once.
func TestQueueOverflowRunsEverything(t *testing.T) {
	emu := azumiotest.NewServer(t, azumiotest.Options{Seed: 13, Users: 3, Checkins: 60, Types: []string{"steps"}})
	dir := t.TempDir()
	cfg := &Config{Queue: 1, ShutdownGrace: 10 * time.Second, Pipelines: []PipelineConfig{{File: azumioPipeline(t, emu, dir, 10), Azumio: true}}}
	srv := start(t, cfg, nil)
	emu.SlowDelay.Store(int64(20 * time.Millisecond))
	emu.Slow.Store(1 << 20)
	hook := srv.URL + "/hooks/azumio/" + azumioName + "/"
	post(t, hook+"10001", nil, "")
	waitFor(t, "the first pull to start", func() bool { return len(emu.RequestLog()) > 0 })
	for _, u := range []string{"10002", "10003", "10002"} {
		if code := post(t, hook+u, nil, ""); code != http.StatusAccepted {
			t.Fatalf("user %s: got status %d, want 202", u, code)
		}
	}
	emu.Slow.Store(0)
	waitFor(t, "two pulls", func() bool { return srv.Runs(azumioName) == 2 })
	if got, want := csvRows(t, filepath.Join(dir, "out")), currentSteps(emu, "10001", "10002", "10003"); !slices.Equal(got, want) {
		t.Errorf("got %d rows, want every user's %d, each once", len(got), len(want))
	}
	m := body(t, srv.URL+"/metrics")
	for _, want := range []string{
		`etl_webhook_events_total{pipeline="azumio-serve",receiver="azumio",result="overflow"} 1`,
		`etl_webhook_events_total{pipeline="azumio-serve",receiver="azumio",result="accepted"} 3`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grep(m, "etl_webhook_events_total"))
		}
	}
}
