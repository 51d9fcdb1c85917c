package asi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/internal/duckdbtest"
	_ "github.com/etl-toolkit/etl/sinks/parquet"
	"github.com/etl-toolkit/etl/sources/asi/asitest"
)

// lake is a pipeline exporting from an emulator over loopback HTTP into a
// Parquet tree in a temp directory.
type lake struct {
	t   testing.TB
	emu *asitest.Server
	dir string
	// build are the options the pipelines are built with.
	build []core.BuildOption
}

func newLake(t testing.TB, opts asitest.Options) *lake {
	return &lake{t: t, emu: asitest.NewServer(t, opts), dir: t.TempDir()}
}

// source returns the source's config section: the emulator's URL and
// credentials, a tokens file, a high request rate, plus extra lines.
func (l *lake) source(extra string) string {
	c := l.emu.Credentials()
	return fmt.Sprintf(`
    base_url: %s
    client_id: %s
    client_secret: ${ASI_CLIENT_SECRET}
    username: %s
    password: ${ASI_PASSWORD}
    tokens: %s
    rate: 2000
    burst: 100
%s`, c.BaseURL, c.ClientID, c.Managers[0].Username, filepath.Join(l.dir, "tokens.json"), indent(extra, "    "))
}

func indent(s, by string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line != "" {
			b.WriteString(by + strings.TrimLeft(line, " ") + "\n")
		}
	}
	return b.String()
}

// pipeline is the pipeline file of the lake with the source config section.
func (l *lake) pipeline(source string) string {
	return fmt.Sprintf(`version: 1
name: asi-test
state: %s
concurrency: 4
commit: { interval: 1s }
source:
  plugin: asi
  config:%s
sinks:
  - plugin: parquet
    config:
      path: %s
      partition_by: [stream]
`, filepath.Join(l.dir, "state"), source, filepath.Join(l.dir, "out"))
}

var testEnv = map[string]string{"ASI_CLIENT_SECRET": asitest.ClientSecret, "ASI_PASSWORD": asitest.Password}

// run runs the pipeline once to its end.
func (l *lake) run(source string) (*core.Summary, error) {
	l.t.Helper()
	p, err := core.ParsePipeline(filepath.Join(l.dir, "p.yaml"), []byte(l.pipeline(source)), func(k string) (string, bool) {
		v, ok := testEnv[k]
		return v, ok
	})
	if err != nil {
		l.t.Fatalf("pipeline: %v", err)
	}
	pl, err := core.Build(context.Background(), p, testLogger(), l.build...)
	if err != nil {
		l.t.Fatalf("build: %v", err)
	}
	defer pl.Close()
	store, err := core.OpenBoltStore(p.StatePath())
	if err != nil {
		l.t.Fatal(err)
	}
	defer store.Close()
	return pl.Run(context.Background(), core.RunOptions{Store: store, MaxTries: 20})
}

func (l *lake) mustRun(source string) *core.Summary {
	l.t.Helper()
	sum, err := l.run(source)
	if err != nil {
		l.t.Fatalf("run: %v (failed units: %v)", err, sum.Failed)
	}
	return sum
}

// parquet is the read_parquet(...) of a stream's files.
func (l *lake) parquet(stream string) string {
	return "read_parquet(" + duckdbtest.Literal(filepath.Join(l.dir, "out", "stream="+stream, "*.parquet")) + ")"
}

func (l *lake) query(sql string) []map[string]any {
	l.t.Helper()
	return duckdbtest.Query(l.t, sql)
}

// api calls the emulator as manager1.
func (l *lake) api(method, path string, body, out any) {
	l.t.Helper()
	tok, _ := l.emu.IssueToken("manager1")
	if err := apiAs(l.emu, tok.AccessToken, method, path, body, out); err != nil {
		l.t.Fatal(err)
	}
}

func apiAs(emu *asitest.Server, token, method, path string, body, out any) error {
	c, err := NewClient(ClientOptions{BaseURL: emu.URL(), Tokens: staticToken(token), Rate: 1000})
	if err != nil {
		return err
	}
	u, err := url.Parse(path)
	if err != nil {
		return err
	}
	return c.Do(context.Background(), method, u.Path, u.Query(), body, out)
}

type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }
func (staticToken) Invalidate(string)                       {}

func num(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return math.NaN()
}

// TestComputedToParquet exports the computed data of every finished time
// frame and checks what DuckDB reads back against the API's own answers.
func TestComputedToParquet(t *testing.T) {
	l := newLake(t, asitest.DefaultOptions())
	sum := l.mustRun(l.source("streams: [metadata, computed]"))
	if sum.Units != 9 {
		t.Errorf("units: got %d, want 9 (metadata and 8 time frames)", sum.Units)
	}
	rows := l.query(`SELECT timeframe_id, version, activity_id, athlete_id, device_id, total_distance, max_speed,
		average_speed, epoch_ms(last_timestamp) AS last_ms, typeof(start_time) AS ts_type,
		len(accelerations) AS n_acc, accelerations[2].name AS acc2, accelerations[2].threshold AS th2,
		len(accelerations[1]."values") AS n_acc1, _extra
		FROM ` + l.parquet("asi.computed") + ` ORDER BY timeframe_id`)
	if len(rows) != 8 {
		t.Fatalf("got %d computed rows, want 8", len(rows))
	}
	for _, r := range rows {
		id := int64(num(r["timeframe_id"]))
		var want map[string]any
		l.api("GET", fmt.Sprintf("/api/v1/timeframes/%d/computed-data/", id), nil, &want)
		acc := want["accelerations"].(map[string]any)
		checks := []struct {
			name      string
			got, want any
		}{
			{"version", num(r["version"]), 1.0},
			{"total_distance", num(r["total_distance"]), want["total_distance"]},
			{"max_speed", num(r["max_speed"]), want["max_speed"]},
			{"average_speed", num(r["average_speed"]), want["average_speed"]},
			{"last_timestamp", num(r["last_ms"]), want["last_timestamp"]},
			{"start_time type", r["ts_type"], "TIMESTAMP WITH TIME ZONE"},
			{"accelerations", num(r["n_acc"]), 2.0},
			{"accelerations[2].name", r["acc2"], "threshold_2"},
			{"accelerations[2].threshold", num(r["th2"]), 3.0},
			{"accelerations[1] values", num(r["n_acc1"]), float64(len(acc["threshold_1"].(map[string]any)["values"].([]any)))},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("time frame %d: %s: got %v, want %v", id, c.name, c.got, c.want)
			}
		}
		var extra map[string]any
		json.Unmarshal([]byte(r["_extra"].(string)), &extra)
		if extra["player_load"] != want["player_load"] || extra["sprints"] != want["sprints"] {
			t.Errorf("time frame %d: _extra: got %v, want the undocumented keys player_load and sprints", id, extra)
		}
	}
	// The unit of each measurement reaches the Parquet file.
	md := l.query(`SELECT key, value FROM parquet_kv_metadata(` + duckdbtest.Literal(filepath.Join(l.dir, "out", "stream=asi.computed", "*.parquet")) + `)
		WHERE key::VARCHAR IN ('total_distance.unit', 'max_speed.unit')`)
	if len(md) < 2 {
		t.Errorf("Parquet key-value metadata: got %v, want total_distance.unit and max_speed.unit", md)
	}

	// The metadata streams.
	for stream, want := range map[string]int{"asi.athletes": 4, "asi.devices": 4, "asi.activities": 2, "asi.timeframes": 8, "asi.permissions": 8} {
		if got := l.query(`SELECT count(*) AS n FROM ` + l.parquet(stream)); num(got[0]["n"]) != float64(want) {
			t.Errorf("%s: got %v rows, want %d", stream, got[0]["n"], want)
		}
	}
	got := l.query(`SELECT json_extract_string(params, '$') AS params, json_extract_string(_extra, '$') AS extra FROM ` + l.parquet("asi.timeframes") + ` LIMIT 1`)
	if got[0]["params"] != "{}" {
		t.Errorf("asi.timeframes params: got %v, want the JSON text {}", got[0]["params"])
	}

	// A second run finds nothing new.
	sum = l.mustRun(l.source("streams: [metadata, computed]"))
	if sum.Rows() != 0 {
		t.Errorf("second run: got %d rows, want 0", sum.Rows())
	}
}

// TestTimeframeEditedBetweenRuns: a changed time frame is exported again, as
// version 2; the others are not.
func TestTimeframeEditedBetweenRuns(t *testing.T) {
	l := newLake(t, asitest.DefaultOptions())
	src := l.source("streams: [computed, activities]")
	l.mustRun(src)
	l.api("PATCH", "/api/v1/timeframes/3/", map[string]any{"end_time": "2026-03-02T10:00:00.000Z"}, nil)
	l.api("PATCH", "/api/v1/activities/2/", map[string]any{"name": "Renamed"}, nil)
	// A time frame moved to end in the future is not finished: not exported yet.
	l.api("PATCH", "/api/v1/timeframes/5/", map[string]any{"end_time": "2026-03-03T12:00:00.000Z"}, nil)
	sum := l.mustRun(src)
	if got := sum.Rows(); got != 2 {
		t.Errorf("second run: got %d rows, want 2 (time frame 3 again, activity 2 again)", got)
	}
	rows := l.query(`SELECT timeframe_id, version, epoch_ms(end_time) AS end_ms FROM ` + l.parquet("asi.computed") + ` WHERE timeframe_id = 3 ORDER BY version`)
	want := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).UnixMilli()
	if len(rows) != 2 || num(rows[1]["version"]) != 2 || num(rows[1]["end_ms"]) != float64(want) {
		t.Errorf("time frame 3: got %v, want versions 1 and 2, the second ending at 10:00", rows)
	}
	acts := l.query(`SELECT name FROM ` + l.parquet("asi.activities") + ` WHERE activity_id = 2 ORDER BY name`)
	if len(acts) != 2 || acts[0]["name"] != "Renamed" {
		t.Errorf("activity 2: got %v, want the old and the new name", acts)
	}
	// Once time frame 5 is finished it is exported, as a new version.
	l.emu.Clock.Set(time.Date(2026, 3, 3, 13, 0, 0, 0, time.UTC))
	l.mustRun(src)
	if rows := l.query(`SELECT max(version) AS v, count(*) AS n FROM ` + l.parquet("asi.computed") + ` WHERE timeframe_id = 5`); num(rows[0]["v"]) != 2 {
		t.Errorf("time frame 5: got %v, want version 2 once it finished", rows)
	}
}

// TestPermissionDenied: a time frame whose athlete granted no READ fails on
// its own, saying what is missing; the other units are exported.
func TestPermissionDenied(t *testing.T) {
	l := newLake(t, asitest.DefaultOptions())
	var ath struct {
		ID int64 `json:"id"`
	}
	if err := apiAs(l.emu, "", "POST", "/api/v1/athletes/", map[string]any{"username": "newcomer", "password": "pw"}, &ath); err != nil {
		t.Fatal(err)
	}
	tok, _ := l.emu.IssueToken("newcomer")
	perm := map[string]any{"start_time": "2026-01-01T00:00:00.000Z", "expiration_time": "2026-12-31T00:00:00.000Z", "permission": "WRITE"}
	if err := apiAs(l.emu, tok.AccessToken, "POST", fmt.Sprintf("/api/v1/athletes/%d/managers/1/permissions/", ath.ID), perm, nil); err != nil {
		t.Fatal(err)
	}
	var tf struct {
		ID int64 `json:"id"`
	}
	l.api("POST", "/api/v1/timeframes/", map[string]any{"start_time": "2026-03-03T09:00:00.000Z", "end_time": "2026-03-03T09:30:00.000Z",
		"device": 1, "activity": 2, "athlete": ath.ID}, &tf)
	sum, err := l.run(l.source("streams: [computed]"))
	if !errors.Is(err, core.ErrUnitsFailed) {
		t.Fatalf("run: got %v, want core.ErrUnitsFailed", err)
	}
	unit := fmt.Sprintf("timeframe/%d", tf.ID)
	ferr := sum.Failed[unit]
	if len(sum.Failed) != 1 || ferr == nil {
		t.Fatalf("failed units: got %v, want only %s", sum.Failed, unit)
	}
	for _, want := range []string{"missing READ permission", fmt.Sprintf("athlete %d", ath.ID), "manager 1", "403"} {
		if !strings.Contains(ferr.Error(), want) {
			t.Errorf("error: got %q, want it to say %q", ferr, want)
		}
	}
	if strings.Contains(ferr.Error(), tok.AccessToken) || strings.Contains(ferr.Error(), asitest.ClientSecret) {
		t.Errorf("error %q holds a secret", ferr)
	}
	if n := sum.Rows(); n != 8 {
		t.Errorf("rows: got %d, want the 8 other time frames", n)
	}
}

// TestFaultsAreRetried: 429 with Retry-After, 503 and cut connections on a
// share of requests; the export is complete and has no duplicate.
func TestFaultsAreRetried(t *testing.T) {
	opts := asitest.DefaultOptions()
	opts.Session = 20 * time.Minute
	l := newLake(t, opts)
	extra := `
streams: [metadata, computed, preprocessed]
since: 2026-03-01T00:00:00Z
page_size: 100
retries: 2
retry_wait: 10ms`
	src := l.source(extra)
	// A reference export without faults.
	ref := newLake(t, opts)
	ref.mustRun(ref.source(extra))

	l.emu.SetFaults(asitest.Faults{RateLimitEvery: 37, RetryAfter: time.Second, ErrorEvery: 5, DropEvery: 11})
	start := time.Now()
	l.mustRun(src)
	st := l.emu.Stats()
	if st.RateLimited == 0 || st.ServerErrors == 0 || st.Dropped == 0 {
		t.Errorf("faults: got %+v, want some of each", st)
	}
	t.Logf("%d requests, %d rate limited, %d 503, %d dropped, in %s", st.Requests, st.RateLimited, st.ServerErrors, st.Dropped, time.Since(start))
	for _, stream := range []string{"asi.computed", "asi.preprocessed.gnss", "asi.preprocessed.device", "asi.preprocessed.imu", "asi.athletes"} {
		got := l.query(`SELECT count(*) AS n FROM (SELECT DISTINCT * FROM ` + l.parquet(stream) + `)`)
		all := l.query(`SELECT count(*) AS n FROM ` + l.parquet(stream))
		want := ref.query(`SELECT count(*) AS n FROM ` + ref.parquet(stream))
		if num(all[0]["n"]) != num(want[0]["n"]) || num(got[0]["n"]) != num(want[0]["n"]) {
			t.Errorf("%s: got %v rows (%v distinct), want %v", stream, all[0]["n"], got[0]["n"], want[0]["n"])
		}
	}
	diff := l.query(`SELECT count(*) AS n FROM ((SELECT * FROM ` + l.parquet("asi.preprocessed.gnss") + `) EXCEPT ALL (SELECT * FROM ` +
		ref.parquet("asi.preprocessed.gnss") + `))`)
	if num(diff[0]["n"]) != 0 {
		t.Errorf("gnss rows differ from the export without faults: %v rows", diff[0]["n"])
	}
}

// TestPreprocessedHistory exports the history of the devices owned now and
// checks it sample by sample against the API.
func TestPreprocessedHistory(t *testing.T) {
	opts := asitest.DefaultOptions()
	opts.Rate = 5
	opts.Session = 30 * time.Minute
	l := newLake(t, opts)
	src := l.source(`
streams: [preprocessed]
since: 2026-03-01T00:00:00Z
page_size: 250`)
	sum := l.mustRun(src)
	if sum.Units != 4 {
		t.Errorf("units: got %d, want 4 devices", sum.Units)
	}
	// Each device records 2 sessions of 40 minutes: 4800 s.
	counts := map[string]float64{
		"asi.preprocessed.gnss":   4 * 4800 * 5,
		"asi.preprocessed.ecg":    4 * 4800,
		"asi.preprocessed.pwr":    2 * 4800, // devices 2 and 4
		"asi.preprocessed.device": 4 * 4800 / 5,
		"asi.preprocessed.imu":    1 * 4800, // device 3
	}
	for stream, want := range counts {
		got := l.query(`SELECT count(*) AS n, count(DISTINCT (device_id, "timestamp")) AS d FROM ` + l.parquet(stream))
		if num(got[0]["n"]) != want || num(got[0]["d"]) != want {
			t.Errorf("%s: got %v rows (%v distinct), want %v", stream, got[0]["n"], got[0]["d"], want)
		}
	}
	// Samples of a minute of device 4, against the API.
	var page struct {
		Results []struct {
			GNSS map[string][]float64 `json:"gnss"`
		} `json:"results"`
	}
	l.api("GET", "/api/v1/devices/4/preprocessed-data/?start=2026-03-02T09:10:00.000Z&end=2026-03-02T09:11:00.000Z&limit=60", nil, &page)
	rows := l.query(`SELECT epoch_ms("timestamp") AS ts, longitude, latitude, speed, altitude, _extra FROM ` + l.parquet("asi.preprocessed.gnss") +
		` WHERE device_id = 4 AND "timestamp" >= '2026-03-02 09:10:00Z' AND "timestamp" < '2026-03-02 09:11:00Z' ORDER BY "timestamp"`)
	if len(rows) != 300 || len(page.Results) != 60 {
		t.Fatalf("device 4, 09:10-09:11: got %d rows and %d messages, want 300 and 60", len(rows), len(page.Results))
	}
	for i, r := range rows {
		g := page.Results[i/5].GNSS
		j := i % 5
		for _, k := range []string{"longitude", "latitude", "speed", "altitude"} {
			if num(r[k]) != g[k][j] {
				t.Fatalf("row %d: %s: got %v, want %v", i, k, r[k], g[k][j])
			}
		}
		if num(r["ts"]) != g["timestamp"][j] {
			t.Fatalf("row %d: timestamp: got %v, want %v", i, r["ts"], g["timestamp"][j])
		}
		if want := fmt.Sprintf(`{"hdop":%v}`, g["hdop"][j]); r["_extra"] != want {
			t.Fatalf("row %d: _extra: got %v, want %s", i, r["_extra"], want)
		}
	}
	units := l.query(`SELECT key, value FROM parquet_kv_metadata(` + duckdbtest.Literal(filepath.Join(l.dir, "out", "stream=asi.preprocessed.gnss", "*.parquet")) + `) WHERE key::VARCHAR = 'speed.unit'`)
	if len(units) == 0 {
		t.Errorf("gnss speed: no unit in the Parquet metadata")
	}

	// The devices record again; the next run exports only the new samples.
	l.emu.Clock.Set(time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC))
	sum = l.mustRun(src)
	if sum.Rows() != 0 {
		t.Errorf("second run: got %d rows, want 0 (no new data)", sum.Rows())
	}
}

// TestPagingOverManyPages lists time frames 3 at a time.
func TestPagingOverManyPages(t *testing.T) {
	opts := asitest.DefaultOptions()
	opts.Activities = 4 // 16 time frames: 6 pages
	l := newLake(t, opts)
	sum := l.mustRun(l.source("streams: [computed]\npage_size: 3"))
	if sum.Units != 16 || sum.Rows() != 16 {
		t.Errorf("got %d units and %d rows, want 16 and 16", sum.Units, sum.Rows())
	}
	if n := l.emu.Stats().Status[http.StatusOK]; n < 6+1+16*2 {
		t.Errorf("got %d successful requests, want at least 6 pages, me, and 2 per time frame", n)
	}
}

// TestSelection keeps time frames by activity, athlete, device and time.
func TestSelection(t *testing.T) {
	opts := asitest.DefaultOptions()
	opts.Activities = 3
	l := newLake(t, opts)
	tests := []struct {
		name  string
		extra string
		want  []string
	}{
		{"activity", "activities: [2]", []string{"timeframe/5", "timeframe/6", "timeframe/7", "timeframe/8"}},
		{"athlete", "athletes: [1]", []string{"timeframe/1", "timeframe/5", "timeframe/9"}},
		{"device and activity", "activities: [1, 3]\ndevices: [2]", []string{"timeframe/10", "timeframe/2"}},
		{"time range", "since: 2026-03-03T00:00:00Z\nuntil: 2026-03-04T00:00:00Z\nathletes: [3, 4]", []string{"timeframe/7", "timeframe/8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := core.NewConfig("p.yaml", "source.config", []byte(strings.NewReplacer("${ASI_CLIENT_SECRET}", asitest.ClientSecret, "${ASI_PASSWORD}", asitest.Password).Replace(l.source("streams: [computed]\n"+tt.extra))))
			if err != nil {
				t.Fatal(err)
			}
			src, err := newFromEnv(context.Background(), core.Env{Config: c})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			units, err := src.Units(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(units)
			if !slices.Equal(units, tt.want) {
				t.Errorf("units: got %v, want %v", units, tt.want)
			}
		})
	}
}

// TestEmulatorInProcess runs a pipeline with base_url: emulator: no account,
// no server to start.
func TestEmulatorInProcess(t *testing.T) {
	l := &lake{t: t, dir: t.TempDir()}
	sum := l.mustRun(`
    base_url: emulator
    streams: [metadata, computed, preprocessed]
    since: 2026-03-01T00:00:00Z
    emulator: { seed: 3, activities: 1, athletes: 2, devices: 2, session: 10m }`)
	if sum.Units != 5 {
		t.Errorf("units: got %d, want 5", sum.Units)
	}
	if got := l.query(`SELECT count(*) AS n FROM ` + l.parquet("asi.preprocessed.gnss")); num(got[0]["n"]) != 2*1200 {
		t.Errorf("gnss rows: got %v, want 2400", got[0]["n"])
	}
	if _, err := os.Stat(filepath.Join(l.dir, "tokens.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the emulator's tokens were written to a file")
	}
}

// countingLimiter counts the requests it lets through.
type countingLimiter struct{ n atomic.Int64 }

func (c *countingLimiter) Wait(context.Context) error { c.n.Add(1); return nil }

// TestRequestsGoThroughTheGivenLimiters: the source's API client paces every
// request with the limiter Build was given (scale-out workers share one).
func TestRequestsGoThroughTheGivenLimiters(t *testing.T) {
	lim := &countingLimiter{}
	var keys []string
	l := &lake{t: t, dir: t.TempDir(), build: []core.BuildOption{core.WithLimiters(func(key string, perSecond float64, burst int) core.Limiter {
		if perSecond != 3 || burst != 4 {
			t.Errorf("limiter asked for %v/s burst %d, want 3/s burst 4", perSecond, burst)
		}
		keys = append(keys, key)
		return lim
	})}}
	l.mustRun(`
    base_url: emulator
    rate: 3
    burst: 4
    streams: [metadata]
    emulator: { seed: 3, activities: 1, athletes: 2, devices: 2, session: 10m }`)
	if len(keys) != 1 || !strings.HasPrefix(keys[0], "asi 127.0.0.1:") || !strings.Contains(keys[0], " client ") {
		t.Errorf("budget keys: got %q, want one \"asi 127.0.0.1:PORT client ID\"", keys)
	}
	// Login aside, the metadata unit lists at least athletes, devices and activities.
	if n := lim.n.Load(); n < 3 {
		t.Errorf("limiter passed %d requests, want every API request (at least 3)", n)
	}
}

// testLogger discards logs unless ASI_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("ASI_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// TestDeviceNotOwned: a device the manager never owned fails its unit, saying
// that ownership is missing.
func TestDeviceNotOwned(t *testing.T) {
	opts := asitest.DefaultOptions()
	opts.Managers = 2
	l := newLake(t, opts)
	src := strings.Replace(l.source("streams: [preprocessed]\ndevices: [1]\nsince: 2026-03-01T00:00:00Z"), "username: manager1", "username: manager2", 1)
	sum, err := l.run(src)
	if !errors.Is(err, core.ErrUnitsFailed) {
		t.Fatalf("run: got %v, want core.ErrUnitsFailed", err)
	}
	ferr := sum.Failed["device/1"]
	for _, want := range []string{"not the owner", "manager 2", "device 1", "take-ownership", "403"} {
		if ferr == nil || !strings.Contains(ferr.Error(), want) {
			t.Errorf("device/1: got error %v, want it to say %q", ferr, want)
		}
	}
}
