package asi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	json "github.com/goccy/go-json"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sources/asi/asitest"
)

func init() {
	core.RegisterSource("asi", core.Factory[core.Source]{
		Doc:     "ASI sports sensors: athletes, devices, activities, time frames, permissions, computed data per time frame and preprocessed device history",
		Options: Config{},
		New:     newFromEnv,
	})
}

// Documented API paths (the [assumed] ones are in Config.API).
const (
	pathAthletes   = "/api/v1/athletes/"
	pathDevices    = "/api/v1/devices/"
	pathActivities = "/api/v1/activities/"
	pathTimeframes = "/api/v1/timeframes/"
)

// Unit ids.
const (
	unitMetadata        = "metadata"
	unitTimeframePrefix = "timeframe/"
	unitDevicePrefix    = "device/"
)

// newFromEnv is the plugin's factory: it decodes the config section onto
// DefaultConfig and reports every problem at once, each at its place in the
// pipeline file.
func newFromEnv(_ context.Context, env core.Env) (core.Source, error) {
	cfg, err := DecodeConfig(env.Config)
	if err != nil {
		return nil, err
	}
	return newSource(cfg, Options{Mem: env.Mem, Logger: env.Logger, DeadLetters: env.DeadLetters, Limiters: env.Limiter, Counters: env.Counters}), nil
}

// Options are what a Source needs besides its Config.
type Options struct {
	// Mem allocates the records (default memory.DefaultAllocator).
	Mem memory.Allocator
	// Logger receives retries and skipped units (default: discard).
	Logger *slog.Logger
	// DeadLetters receives objects and samples that cannot become rows
	// (default: dropped, after a log line).
	DeadLetters core.DeadLetters
	// HTTP is the HTTP client (default: one with Config.Timeout).
	HTTP *http.Client
	// Limiters makes the API client's request-rate limiter (default
	// core.LocalLimiters); its budget is the API client id's at the host.
	Limiters core.Limiters
	// Counters gets the live streams' gaps and reconnects, as "asi.gaps" and
	// "asi.reconnects" (default: none).
	Counters *core.Counters
}

// budget names the request budget the API counts a connection's requests
// against: the client id at the host (neither is a secret).
func budget(ao AuthOptions) string {
	host := ao.BaseURL
	if u, err := url.Parse(ao.BaseURL); err == nil && u.Host != "" {
		host = u.Host
	}
	return host + " client " + ao.ClientID
}

// Source is the `asi` source. Its units are "metadata" (the metadata
// streams), "timeframe/<id>" (computed data of a finished time frame) and
// "device/<id>" (preprocessed history); see the package documentation. It
// connects (and logs in) on first use; every method is safe for concurrent
// use.
type Source struct {
	cfg  Config
	mem  memory.Allocator
	log  *slog.Logger
	dead core.DeadLetters
	hc   *http.Client
	// limiters makes the API client's rate limiter.
	limiters core.Limiters

	mu   sync.Mutex
	conn *connection

	live     liveCounters
	counters *core.Counters
}

var (
	_ core.Source  = (*Source)(nil)
	_ core.Checker = (*Source)(nil)
)

// connection is a logged-in client.
type connection struct {
	client  *Client
	auth    *Auth
	emu     *asitest.Server
	manager int64 // the caller's manager id; 0 if the caller is no manager
	role    string
}

// NewSource checks cfg and returns a source; it does no I/O. It returns every
// problem of cfg at once, joined.
func NewSource(cfg Config, opts Options) (*Source, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	return newSource(cfg, opts), nil
}

func newSource(cfg Config, opts Options) *Source {
	if opts.Mem == nil {
		opts.Mem = memory.DefaultAllocator
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HTTP == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 32
		opts.HTTP = &http.Client{Timeout: cfg.Timeout, Transport: t}
	}
	return &Source{cfg: cfg, mem: opts.Mem, log: opts.Logger, dead: opts.DeadLetters, hc: opts.HTTP, limiters: opts.Limiters, counters: opts.Counters}
}

// connect logs in on first use: with base_url: emulator it first starts the
// emulator on a loopback port and logs in as its first manager.
func (s *Source) connect(ctx context.Context) (*connection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		return s.conn, nil
	}
	c := &connection{}
	ao := AuthOptions{
		BaseURL: s.cfg.BaseURL, ClientID: s.cfg.ClientID, ClientSecret: s.cfg.ClientSecret,
		Tokens: s.cfg.Tokens, Username: s.cfg.Username, Password: s.cfg.Password,
		RefreshBefore: s.cfg.RefreshBefore, HTTP: s.hc,
	}
	if s.cfg.emulated() {
		emu, err := asitest.New(s.cfg.Emulator)
		if err != nil {
			return nil, err
		}
		if err := emu.Start("127.0.0.1:0"); err != nil {
			return nil, err
		}
		c.emu = emu
		creds := emu.Credentials()
		ao.BaseURL, ao.ClientID, ao.ClientSecret, ao.Tokens = emu.URL(), creds.ClientID, creds.ClientSecret, ""
		if ao.Username == "" {
			ao.Username, ao.Password = creds.Managers[0].Username, creds.Managers[0].Password
		}
		s.log.Info("asi: emulator started in-process", "url", emu.URL(), "user", ao.Username)
	}
	c.auth = NewAuth(ao)
	client, err := NewClient(ClientOptions{BaseURL: ao.BaseURL, Tokens: c.auth, HTTP: s.hc, Rate: s.cfg.Rate,
		Burst: s.cfg.Burst, Retries: s.cfg.Retries, RetryWait: s.cfg.RetryWait, Logger: s.log,
		Limiters: s.limiters, Budget: budget(ao)})
	if err == nil {
		c.client = client
		err = c.whoami(ctx, s.cfg.API.Me)
	}
	if err != nil {
		if c.emu != nil {
			c.emu.Close()
		}
		return nil, err
	}
	s.conn = c
	return c, nil
}

// whoami learns the caller's role and manager id.
func (c *connection) whoami(ctx context.Context, path string) error {
	var me struct {
		Role    string `json:"role"`
		Manager *struct {
			ID int64 `json:"id"`
		} `json:"manager_profile"`
	}
	if err := c.client.Do(ctx, http.MethodGet, path, nil, nil, &me); err != nil {
		return err
	}
	c.role = me.Role
	if me.Manager != nil {
		c.manager = me.Manager.ID
	}
	return nil
}

// Check logs in and reads the caller's account, without exporting anything.
func (s *Source) Check(ctx context.Context) error {
	_, err := s.connect(ctx)
	return err
}

// Emulator returns the in-process emulator (base_url: emulator) once the
// source has connected, nil otherwise.
func (s *Source) Emulator() *asitest.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	return s.conn.emu
}

// Units lists "metadata" (if a metadata stream is selected), then
// "timeframe/<id>" for every finished time frame the selection keeps (if
// computed is selected), then "device/<id>" for every selected device (if
// preprocessed is selected), ids ascending.
func (s *Source) Units(ctx context.Context) ([]string, error) {
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	var units []string
	if s.cfg.wantsMetadata() {
		units = append(units, unitMetadata)
	}
	if s.cfg.wants("computed") {
		ids, err := s.finishedTimeframes(ctx, c)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			units = append(units, unitTimeframePrefix+strconv.FormatInt(id, 10))
		}
	}
	if s.cfg.wants("preprocessed") {
		ids, err := s.devices(ctx, c)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			units = append(units, unitDevicePrefix+strconv.FormatInt(id, 10))
		}
	}
	if s.cfg.wants("live_preprocessed") {
		ids, err := s.devices(ctx, c)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			units = append(units, unitLiveDevicePrefix+strconv.FormatInt(id, 10))
		}
	}
	if s.cfg.wants("live_computed") {
		ids := slices.Clone(s.cfg.Activities)
		slices.Sort(ids)
		for _, id := range slices.Compact(ids) {
			units = append(units, unitLiveActivityPrefix+strconv.FormatInt(id, 10))
		}
		ids = slices.Clone(s.cfg.Timeframes)
		slices.Sort(ids)
		for _, id := range slices.Compact(ids) {
			units = append(units, unitLiveTimeframePrefix+strconv.FormatInt(id, 10))
		}
	}
	return units, nil
}

// tfSummary is what Units needs of a time frame.
type tfSummary struct {
	ID       int64  `json:"id"`
	Activity int64  `json:"activity"`
	Athlete  int64  `json:"athlete"`
	Device   int64  `json:"device"`
	Start    string `json:"start_time"`
	End      string `json:"end_time"`
}

// finishedTimeframes lists the selected time frames that ended (by the
// server's clock) at least settle ago.
func (s *Source) finishedTimeframes(ctx context.Context, c *connection) ([]int64, error) {
	var queries []url.Values
	if len(s.cfg.Activities) == 0 {
		queries = append(queries, url.Values{})
	}
	for _, a := range s.cfg.Activities {
		queries = append(queries, url.Values{"activity": {strconv.FormatInt(a, 10)}})
	}
	seen := map[int64]bool{}
	var ids []int64
	for _, q := range queries {
		err := c.client.List(ctx, pathTimeframes, q, s.cfg.PageSize, func(results []json.RawMessage) error {
			now := c.client.Now()
			for _, raw := range results {
				var tf tfSummary
				if err := json.Unmarshal(raw, &tf); err != nil {
					s.reject(ctx, "asi.timeframes", "", raw, "time frame: "+err.Error())
					continue
				}
				start, ok1 := parseInstant(tf.Start)
				end, ok2 := parseInstant(tf.End)
				switch {
				case !ok1 || !ok2:
					s.reject(ctx, "asi.timeframes", "", raw, "time frame without a valid start_time and end_time")
					continue
				case seen[tf.ID], !s.selected(tf, start, end):
					continue
				case end.Add(s.cfg.Settle).After(now):
					s.log.Debug("asi: time frame not finished yet", "timeframe", tf.ID, "end", end)
					continue
				}
				seen[tf.ID] = true
				ids = append(ids, tf.ID)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("asi: listing time frames: %w", err)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

func (s *Source) selected(tf tfSummary, start, end time.Time) bool {
	switch {
	case len(s.cfg.Activities) > 0 && !slices.Contains(s.cfg.Activities, tf.Activity),
		len(s.cfg.Athletes) > 0 && !slices.Contains(s.cfg.Athletes, tf.Athlete),
		len(s.cfg.Devices) > 0 && !slices.Contains(s.cfg.Devices, tf.Device),
		!s.cfg.Since.IsZero() && !end.After(s.cfg.Since),
		!s.cfg.Until.IsZero() && !start.Before(s.cfg.Until):
		return false
	}
	return true
}

// devices lists the configured devices, or the devices owned now.
func (s *Source) devices(ctx context.Context, c *connection) ([]int64, error) {
	if len(s.cfg.Devices) > 0 {
		ids := slices.Clone(s.cfg.Devices)
		slices.Sort(ids)
		return slices.Compact(ids), nil
	}
	var ids []int64
	err := c.client.List(ctx, pathDevices, url.Values{"current": {"true"}}, s.cfg.PageSize, func(results []json.RawMessage) error {
		for _, raw := range results {
			var d struct {
				ID int64 `json:"id"`
			}
			if err := json.Unmarshal(raw, &d); err != nil || d.ID == 0 {
				s.reject(ctx, "asi.devices", "", raw, "device without an id")
				continue
			}
			ids = append(ids, d.ID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("asi: listing devices: %w", err)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// Read emits the unit's rows after from; see the package documentation for
// each kind of unit. Transient failures that outlast the client's retries are
// returned wrapping core.ErrTransient, so the runner retries the unit from its
// last position; a missing permission fails the unit, naming what is missing.
func (s *Source) Read(ctx context.Context, unit string, from core.Position, emit core.Emit) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("asi: %s: %w", unit, err)
	}
	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	switch {
	case unit == unitMetadata:
		return s.readMetadata(ctx, c, from, emit)
	case strings.HasPrefix(unit, unitTimeframePrefix):
		id, err := strconv.ParseInt(strings.TrimPrefix(unit, unitTimeframePrefix), 10, 64)
		if err != nil {
			break
		}
		return s.readTimeframe(ctx, c, unit, id, from, emit)
	case strings.HasPrefix(unit, unitLiveTimeframePrefix):
		id, err := strconv.ParseInt(strings.TrimPrefix(unit, unitLiveTimeframePrefix), 10, 64)
		if err != nil {
			break
		}
		return s.readLiveTimeframe(ctx, c, unit, id, from, emit)
	case strings.HasPrefix(unit, unitLiveActivityPrefix):
		id, err := strconv.ParseInt(strings.TrimPrefix(unit, unitLiveActivityPrefix), 10, 64)
		if err != nil {
			break
		}
		return s.readLiveActivity(ctx, c, unit, id, from, emit)
	case strings.HasPrefix(unit, unitLiveDevicePrefix):
		id, ok := parseLiveUnit(unit)
		if !ok {
			break
		}
		return s.readLiveDevice(ctx, c, unit, id, from, emit)
	case strings.HasPrefix(unit, unitDevicePrefix):
		id, err := strconv.ParseInt(strings.TrimPrefix(unit, unitDevicePrefix), 10, 64)
		if err != nil {
			break
		}
		return s.readDevice(ctx, c, unit, id, from, emit)
	}
	return fmt.Errorf("asi: unknown unit %q (want metadata, timeframe/<id>, device/<id>, live/device/<id>, live/activity/<id> or live/timeframe/<id>)", unit)
}

// readTimeframe exports the computed data of a finished time frame as one
// row, again as a new version whenever the time frame or its computed data
// changed since the version last exported.
func (s *Source) readTimeframe(ctx context.Context, c *connection, unit string, id int64, from core.Position, emit core.Emit) error {
	var pos timeframePos
	if err := decodePos(from, &pos); err != nil {
		return fmt.Errorf("asi: %s: %w", unit, err)
	}
	tfRaw, err := c.client.Get(ctx, pathTimeframes+strconv.FormatInt(id, 10)+"/", nil)
	if IsStatus(err, http.StatusNotFound) {
		s.log.Info("asi: time frame gone (deleted?), nothing to export", "unit", unit)
		return nil
	}
	if err != nil {
		return err
	}
	var tf map[string]json.RawMessage
	if err := json.Unmarshal(tfRaw, &tf); err != nil {
		return fmt.Errorf("asi: %s: the time frame is not a JSON object: %w", unit, err)
	}
	end, ok := instantMs(tf["end_time"])
	if !ok || time.UnixMilli(end).Add(s.cfg.Settle).After(c.client.Now()) {
		return nil // changed to end later: exported once it is finished
	}
	data, err := c.client.Get(ctx, expand(s.cfg.API.TimeframeComputed, "timeframe", id), nil)
	if IsStatus(err, http.StatusForbidden) {
		return s.readDenied(unit, id, tf, c, err)
	}
	if err != nil {
		return err
	}
	fp, err := fingerprint(tfRaw, data)
	if err != nil {
		return fmt.Errorf("asi: %s: the computed data is not JSON: %w", unit, err)
	}
	if fp == pos.Fingerprint {
		return nil
	}
	next := encodePos(timeframePos{Fingerprint: fp, Version: pos.Version + 1})
	row, err := decodeComputed(id, pos.Version+1, tf, data)
	if err != nil {
		s.reject(ctx, StreamComputed, unit, data, err.Error())
		return emit(ctx, core.Batch{Stream: StreamComputed, Unit: unit, Position: next})
	}
	rec := buildComputed(s.mem, []computedRow{row})
	return emit(ctx, core.Batch{Stream: StreamComputed, Unit: unit, Record: rec, Position: next})
}

// readDenied explains a 403 on computed data: the manager lacks READ on the
// athlete for the time frame's period.
func (s *Source) readDenied(unit string, id int64, tf map[string]json.RawMessage, c *connection, err error) error {
	athlete, _ := decodeValue(tf["athlete"], kInt)
	return fmt.Errorf("asi: %s (athlete %d, %s to %s): missing READ permission: manager %d needs READ on athlete %d covering the time frame; "+
		"the athlete grants it with POST /api/v1/athletes/%d/managers/%d/permissions/ {\"permission\": \"READ\", ...}: %w",
		unit, athlete.i, strings.Trim(string(tf["start_time"]), `"`), strings.Trim(string(tf["end_time"]), `"`),
		c.manager, athlete.i, athlete.i, c.manager, err)
}

// reject sends what cannot become a row to the dead letters.
func (s *Source) reject(ctx context.Context, stream, unit string, raw []byte, reason string) {
	if s.dead == nil {
		s.log.Warn("asi: rejected a record (no dead-letter output)", "stream", stream, "unit", unit, "reason", reason)
		return
	}
	if err := s.dead.Reject(ctx, core.DeadLetter{Stream: stream, Unit: unit, Component: "asi", Reason: reason, Value: raw}); err != nil {
		s.log.Error("asi: dead letter failed", "stream", stream, "unit", unit, "reason", reason, "err", err)
	}
}

// readMetadata exports every metadata object that is new or changed since
// the position, one batch per stream.
func (s *Source) readMetadata(ctx context.Context, c *connection, from core.Position, emit core.Emit) error {
	var pos metadataPos
	if err := decodePos(from, &pos); err != nil {
		return fmt.Errorf("asi: %s: %w", unitMetadata, err)
	}
	next := metadataPos{Streams: map[string]map[string]string{}}
	for k, v := range pos.Streams {
		next.Streams[k] = v
	}
	var athletes []json.RawMessage
	for _, name := range metadataStreams {
		if !s.cfg.wants(name) && !(name == "athletes" && s.cfg.wants("permissions")) {
			continue
		}
		objs, err := s.listObjects(ctx, c, name, athletes)
		if err != nil {
			return fmt.Errorf("asi: %s: %w", unitMetadata, err)
		}
		if name == "athletes" {
			athletes = objs
			if !s.cfg.wants(name) {
				continue
			}
		}
		fps := make(map[string]string, len(objs))
		var changed []json.RawMessage
		for _, raw := range objs {
			var obj struct {
				ID json.RawMessage `json:"id"`
			}
			json.Unmarshal(raw, &obj)
			fp, err := fingerprint(raw)
			if err != nil {
				return fmt.Errorf("asi: %s: %s: %w", unitMetadata, name, err)
			}
			id := string(obj.ID)
			fps[id] = fp
			if pos.Streams[name][id] != fp {
				changed = append(changed, raw)
			}
		}
		if len(changed) == 0 {
			continue
		}
		schema := objectSchemas[name]
		rec, rejects := schema.build(s.mem, changed)
		for _, r := range rejects {
			s.reject(ctx, schema.stream, unitMetadata, r.raw, r.reason)
		}
		next.Streams[name] = fps
		if err := emit(ctx, core.Batch{Stream: schema.stream, Unit: unitMetadata, Record: rec, Position: encodePos(next)}); err != nil {
			return err
		}
	}
	return nil
}

// listObjects lists every object of a metadata stream. Permissions are listed
// per athlete (athletes must hold the athletes list).
func (s *Source) listObjects(ctx context.Context, c *connection, name string, athletes []json.RawMessage) ([]json.RawMessage, error) {
	var out []json.RawMessage
	collect := func(results []json.RawMessage) error { out = append(out, results...); return nil }
	var err error
	switch name {
	case "athletes":
		err = c.client.List(ctx, pathAthletes, nil, s.cfg.PageSize, collect)
	case "devices":
		err = c.client.List(ctx, pathDevices, nil, s.cfg.PageSize, collect)
	case "activities":
		err = c.client.List(ctx, pathActivities, nil, s.cfg.PageSize, collect)
	case "timeframes":
		err = c.client.List(ctx, pathTimeframes, nil, s.cfg.PageSize, collect)
	case "permissions":
		if c.manager == 0 {
			return nil, nil // only managers are granted permissions
		}
		for _, raw := range athletes {
			var a struct {
				ID int64 `json:"id"`
			}
			if json.Unmarshal(raw, &a) != nil || a.ID == 0 {
				continue
			}
			path := expand(s.cfg.API.Permissions, "athlete", a.ID, "manager", c.manager)
			if err = c.client.List(ctx, path, nil, s.cfg.PageSize, collect); err != nil {
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", name, err)
	}
	return out, nil
}

// span is a period with data, in UNIX ms.
type span struct{ start, end int64 }

// readDevice walks the device's history from the position: the ranges
// endpoint (ranges_window at a time) says where data is, and each period is
// fetched in windows of at most window, page by page, one batch per group
// and page.
func (s *Source) readDevice(ctx context.Context, c *connection, unit string, id int64, from core.Position, emit core.Emit) error {
	var pos devicePos
	if err := decodePos(from, &pos); err != nil {
		return fmt.Errorf("asi: %s: %w", unit, err)
	}
	now := c.client.Now()
	end := now.Add(-s.cfg.Settle)
	if !s.cfg.Until.IsZero() && s.cfg.Until.Before(end) {
		end = s.cfg.Until
	}
	endMs := end.UnixMilli()
	if from == nil {
		start := s.cfg.Since
		if start.IsZero() {
			start = now.Add(-s.cfg.History)
		}
		pos.Done = start.UnixMilli()
	}
	d := &deviceRead{s: s, c: c, unit: unit, id: id, emit: emit, done: pos.Done}
	if pos.WindowEnd != 0 {
		if err := d.window(ctx, pos.Done, pos.WindowEnd, pos.Page, pos.Group, pos.Limit); err != nil {
			return err
		}
	}
	window := s.cfg.API.Window.Milliseconds()
	for a := d.done; a < endMs; {
		b := min(a+s.cfg.API.RangesWindow.Milliseconds(), endMs)
		spans, err := d.ranges(ctx, a, b)
		if err != nil {
			return err
		}
		for _, r := range spans {
			for ws := max(r.start, d.done); ws < min(r.end, b); {
				we := min(ws+window, r.end, b)
				if err := d.window(ctx, ws, we, 1, "", s.cfg.PageSize); err != nil {
					return err
				}
				ws = we
			}
		}
		if d.done < b {
			// Nothing more before b: remember it, so the next run starts there.
			if err := d.advance(ctx, b); err != nil {
				return err
			}
		}
		a = b
	}
	return nil
}

// deviceRead is one Read of a device unit.
type deviceRead struct {
	s    *Source
	c    *connection
	unit string
	id   int64
	emit core.Emit
	done int64 // Done of the last position emitted
}

func (d *deviceRead) param(ms int64) string {
	if d.s.cfg.API.TimeFormat == "unix_ms" {
		return strconv.FormatInt(ms, 10)
	}
	return time.UnixMilli(ms).UTC().Format(asitest.TimeLayout)
}

func (d *deviceRead) query(a, b int64) url.Values {
	return url.Values{d.s.cfg.API.StartParam: {d.param(a)}, d.s.cfg.API.EndParam: {d.param(b)}}
}

// notOwner explains a 403 on a device's data.
func (d *deviceRead) notOwner(err error) error {
	return fmt.Errorf("asi: %s: not the owner: manager %d must own (or have owned) device %d for the period; "+
		"take ownership with POST /api/v1/devices/%d/take-ownership/: %w", d.unit, d.c.manager, d.id, d.id, err)
}

// ranges returns the periods with data in [a, b), sorted.
func (d *deviceRead) ranges(ctx context.Context, a, b int64) ([]span, error) {
	var spans []span
	path := expand(d.s.cfg.API.PreprocessedRanges, "device", d.id)
	err := d.c.client.List(ctx, path, d.query(a, b), d.s.cfg.PageSize, func(results []json.RawMessage) error {
		for _, raw := range results {
			var r map[string]json.RawMessage
			json.Unmarshal(raw, &r)
			start, ok1 := instantMs(first(r, "start", "start_time"))
			end, ok2 := instantMs(first(r, "end", "end_time"))
			if !ok1 || !ok2 {
				d.s.reject(ctx, StreamPreprocessed+"ranges", d.unit, raw, "range without a valid start and end")
				continue
			}
			if end > a && start < b {
				spans = append(spans, span{max(start, a), min(end, b)})
			}
		}
		return nil
	})
	switch {
	case IsStatus(err, http.StatusForbidden):
		return nil, d.notOwner(err)
	case err != nil:
		return nil, err
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	return spans, nil
}

func first(m map[string]json.RawMessage, keys ...string) json.RawMessage {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			return v
		}
	}
	return nil
}

// window exports the window [ws, we) from page firstPage on, skipping the
// groups up to afterGroup of that page. Its last batch carries the position
// {Done: we}.
func (d *deviceRead) window(ctx context.Context, ws, we int64, firstPage int, afterGroup string, limit int) error {
	want := groupSelector(d.s.cfg.Groups)
	path := expand(d.s.cfg.API.Preprocessed, "device", d.id)
	err := d.c.client.ListFrom(ctx, path, d.query(ws, we), limit, firstPage, func(n int, results []json.RawMessage, last bool) error {
		p := decodePage(results, want)
		for _, r := range p.rejects {
			d.s.reject(ctx, StreamPreprocessed+"*", d.unit, r.raw, r.reason)
		}
		names := p.names()
		if n == firstPage && afterGroup != "" {
			names = slices.DeleteFunc(names, func(g string) bool { return g <= afterGroup })
		}
		for i, name := range names {
			pos := devicePos{Done: ws, WindowEnd: we, Page: n, Group: name, Limit: limit}
			if i == len(names)-1 {
				if last {
					pos = devicePos{Done: we}
				} else {
					pos = devicePos{Done: ws, WindowEnd: we, Page: n + 1, Limit: limit}
				}
			}
			rec := p.groups[name].build(d.s.mem, d.id)
			if err := d.emit(ctx, core.Batch{Stream: streamName(name), Unit: d.unit, Record: rec, Position: encodePos(pos)}); err != nil {
				return err
			}
			if pos.WindowEnd == 0 {
				d.done = pos.Done
			}
		}
		return nil
	})
	switch {
	case IsStatus(err, http.StatusForbidden):
		return d.notOwner(err)
	case err != nil:
		return err
	}
	if d.done < we {
		return d.advance(ctx, we)
	}
	return nil
}

// advance emits a batch without rows that moves the position to done.
func (d *deviceRead) advance(ctx context.Context, done int64) error {
	if err := d.emit(ctx, core.Batch{Unit: d.unit, Position: encodePos(devicePos{Done: done})}); err != nil {
		return err
	}
	d.done = done
	return nil
}

// Ack does nothing: positions say everything the source needs to resume.
func (s *Source) Ack(context.Context, string, core.Position) error { return nil }

// Close stops the in-process emulator, if any, and closes idle connections.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil && s.conn.emu != nil {
		s.conn.emu.Close()
	}
	s.conn = nil
	s.hc.CloseIdleConnections()
	return nil
}
