package asi

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sources/asi/asitest"
)

// liveEmulator is an emulator 10 minutes into its first activity with two
// managers (manager2 owns nothing), streaming 40 simulated seconds a second.
func liveEmulator(t *testing.T, l asitest.Live) *asitest.Server {
	t.Helper()
	opts := asitest.DefaultOptions()
	opts.Managers = 2
	opts.Now = opts.Start.Add(10 * time.Minute)
	emu := asitest.NewServer(t, opts)
	if l.Speed == 0 {
		l.Speed = 40
	}
	emu.SetLive(l)
	return emu
}

func liveConfig(emu *asitest.Server, user int) Config {
	c := emu.Credentials()
	cfg := DefaultConfig()
	cfg.BaseURL, cfg.ClientID, cfg.ClientSecret = c.BaseURL, c.ClientID, c.ClientSecret
	cfg.Username, cfg.Password = c.Managers[user].Username, c.Managers[user].Password
	cfg.Streams = []string{"live_preprocessed"}
	cfg.Devices = []int64{1}
	cfg.Live.ReconnectWait = 10 * time.Millisecond
	cfg.Live.ReconnectMax = 50 * time.Millisecond
	return cfg
}

// liveRun reads unit until stop says enough (or 10 s), then cancels, and
// returns the batches' streams and rows, and Read's error.
type liveRun struct {
	mu      sync.Mutex
	rows    map[string]int64
	gaps    []string
	lastPos core.Position
	// live computed: time frame id of each row, rows with an athlete id
	frames   []int64
	athletes int
}

func readLive(t *testing.T, src *Source, mem memory.Allocator, stop func(r *liveRun) bool) (*liveRun, error) {
	return readLiveUnit(t, src, "live/device/1", stop)
}

func readLiveUnit(t *testing.T, src *Source, unit string, stop func(r *liveRun) bool) (*liveRun, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := &liveRun{rows: map[string]int64{}}
	err := src.Read(ctx, unit, nil, func(_ context.Context, b core.Batch) error {
		defer b.Release()
		r.mu.Lock()
		if b.Stream == StreamComputedLive {
			r.frames = append(r.frames, b.Record.Column(0).(*array.Int64).Value(0))
			if a := b.Record.Column(3).(*array.Int64); a.IsValid(0) {
				r.athletes++
			}
		}
		defer r.mu.Unlock()
		r.rows[b.Stream] += b.Rows()
		r.lastPos = b.Position
		if b.Stream == StreamGaps {
			reason := b.Record.Column(3).(*array.String)
			r.gaps = append(r.gaps, reason.Value(0))
		}
		if stop(r) {
			cancel()
		}
		return nil
	})
	return r, err
}

func TestLiveStream(t *testing.T) {
	emu := liveEmulator(t, asitest.Live{})
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src, err := NewSource(liveConfig(emu, 0), Options{Mem: mem})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	units, err := src.Units(context.Background())
	if err != nil || strings.Join(units, ",") != "live/device/1" {
		t.Fatalf("Units: got %v, %v, want [live/device/1]", units, err)
	}
	for unit, live := range map[string]bool{"live/device/1": true, "live/timeframe/2": true, "device/1": false, "timeframe/2": false, "metadata": false} {
		if got := src.Live(unit); got != live {
			t.Errorf("Live(%s): got %v, want %v", unit, got, live)
		}
	}
	r, err := readLive(t, src, mem, func(r *liveRun) bool { return r.rows["asi.preprocessed.gnss"] >= 10 })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Read after stopping: got %v, want an error wrapping context.Canceled", err)
	}
	if r.rows["asi.preprocessed.ecg"] < 9 || len(r.gaps) != 0 {
		t.Errorf("got rows %v and gaps %v, want ecg rows beside gnss and no gaps", r.rows, r.gaps)
	}
	if !bytes.HasPrefix(r.lastPos, []byte(`{"last":`)) {
		t.Errorf("position: got %s, want {\"last\": ms}", r.lastPos)
	}
}

// TestLiveReconnect drops the socket every 5 messages: the source reconnects
// (with a fresh token, as tokens last 300 ms), reports each gap in the
// asi.gaps stream and its counters, and keeps streaming.
func TestLiveReconnect(t *testing.T) {
	emu := liveEmulator(t, asitest.Live{DropAfter: 5, Speed: 20})
	emu.SetTokenLifetime(300 * time.Millisecond)
	var logs bytes.Buffer
	counters := &core.Counters{}
	src, err := NewSource(liveConfig(emu, 0), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Counters: counters})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	src.cfg.RefreshBefore = 100 * time.Millisecond
	r, err := readLive(t, src, nil, func(r *liveRun) bool { return len(r.gaps) >= 3 })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Read: got %v, want an error wrapping context.Canceled", err)
	}
	st := src.LiveStats()
	if st.Gaps < 3 || st.Reconnects < 3 || r.rows["asi.preprocessed.gnss"] < 15 {
		t.Errorf("got stats %+v and rows %v, want 3 gaps, 3 reconnects and 15 gnss rows", st, r.rows)
	}
	if c := counters.Snapshot(); c["asi.gaps"] != st.Gaps || c["asi.reconnects"] != st.Reconnects || int64(len(r.gaps)) > st.Gaps {
		t.Errorf("counters: got %v, want asi.gaps %d and asi.reconnects %d (the %d gap rows emitted, or more)", c, st.Gaps, st.Reconnects, len(r.gaps))
	}
	if !strings.HasPrefix(r.gaps[0], "connection lost") {
		t.Errorf("gap reason: got %q, want connection lost: ...", r.gaps[0])
	}
	if !strings.Contains(logs.String(), "gap in live stream") {
		t.Errorf("log: got %s, want the gaps", logs.String())
	}
	if g := emu.Stats().Grants; g["refresh_token"]+g["password"] < 2 {
		t.Errorf("grants: got %v, want the token renewed across reconnects", g)
	}
}

func TestLiveRefused(t *testing.T) {
	emu := liveEmulator(t, asitest.Live{})
	var logs bytes.Buffer
	src, err := NewSource(liveConfig(emu, 1), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	_, err = readLive(t, src, nil, func(*liveRun) bool { return false })
	want := "asi: live/device/1: server closed the stream: 4003 forbidden: you do not own device 1"
	if err == nil || err.Error() != want {
		t.Fatalf("Read as manager2: got %v, want %s", err, want)
	}
	if !strings.Contains(logs.String(), "live stream refused") {
		t.Errorf("log: got %s, want the refusal", logs.String())
	}
}

func TestLiveParamsChecked(t *testing.T) {
	tests := []struct {
		name string
		set  func(l *LiveConfig)
		want string
	}{
		{"buffer_size too big", func(l *LiveConfig) { l.BufferSize = 61 }, "asi: live.buffer_size: must be between 0 and 60, got 61\nasi: live.flush_timeout: must be at least buffer_size + 2 = 63, got 10"},
		{"flush_timeout too small", func(l *LiveConfig) { l.FlushTimeout = 1 }, "asi: live.flush_timeout: must be between 2 and 62, got 1"},
		{"flush_timeout below buffer_size + 2", func(l *LiveConfig) { l.BufferSize, l.FlushTimeout = 10, 11 }, "asi: live.flush_timeout: must be at least buffer_size + 2 = 12, got 11"},
		{"reconnect_max below reconnect_wait", func(l *LiveConfig) { l.ReconnectMax = time.Millisecond }, "asi: live.reconnect_max: must be at least reconnect_wait (10ms), got 1ms"},
	}
	emu := liveEmulator(t, asitest.Live{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := liveConfig(emu, 0)
			tt.set(&cfg.Live)
			_, err := NewSource(cfg, Options{})
			if err == nil || err.Error() != tt.want {
				t.Errorf("NewSource: got %v, want %s", err, tt.want)
			}
		})
	}
	if st := emu.LiveStats(); st.Connections != 0 {
		t.Errorf("connections: got %d, want none before the params are valid", st.Connections)
	}
}

// TestLiveDropOlder asks the server to drop late messages: every message the
// source gets is newer than the one before.
func TestLiveDropOlder(t *testing.T) {
	emu := liveEmulator(t, asitest.Live{LateEvery: 4, LateBy: 3})
	cfg := liveConfig(emu, 0)
	cfg.Live.DropOlder = true
	cfg.Groups = []string{"gnss"}
	src, err := NewSource(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var last int64
	var backwards int
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := 0
	src.Read(ctx, "live/device/1", nil, func(_ context.Context, b core.Batch) error {
		defer b.Release()
		if b.Stream != "asi.preprocessed.gnss" {
			return nil
		}
		ts := b.Record.Column(int(b.Record.Schema().FieldIndices("timestamp")[0])).(*array.Timestamp)
		for i := range ts.Len() {
			if int64(ts.Value(i)) < last {
				backwards++
			}
			last = int64(ts.Value(i))
		}
		if n++; n >= 12 {
			cancel()
		}
		return nil
	})
	if backwards != 0 || emu.LiveStats().DroppedOlder == 0 {
		t.Errorf("got %d timestamps going back and %d dropped by the server, want 0 and some", backwards, emu.LiveStats().DroppedOlder)
	}
}

// TestLiveComputedActivity streams the computed data of every time frame of
// activity 1: one row per message, with the time frame's ids from REST.
func TestLiveComputedActivity(t *testing.T) {
	emu := liveEmulator(t, asitest.Live{})
	cfg := liveConfig(emu, 0)
	cfg.Streams, cfg.Activities, cfg.Devices = []string{"live_computed"}, []int64{1}, nil
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src, err := NewSource(cfg, Options{Mem: mem})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	units, err := src.Units(context.Background())
	if err != nil || strings.Join(units, ",") != "live/activity/1" {
		t.Fatalf("Units: got %v, %v, want [live/activity/1]", units, err)
	}
	r, err := readLiveUnit(t, src, "live/activity/1", func(r *liveRun) bool { return len(r.frames) >= 8 })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Read: got %v, want an error wrapping context.Canceled", err)
	}
	seen := map[int64]bool{}
	for _, f := range r.frames {
		seen[f] = true
	}
	if len(seen) != 4 || r.athletes != len(r.frames) {
		t.Errorf("got rows of time frames %v (%d with an athlete id), want the 4 time frames of activity 1, each with its athlete", r.frames, r.athletes)
	}
	if _, err := NewSource(Config{}, Options{}); err == nil {
		t.Error("NewSource(zero config): got no error")
	}
	cfg.Activities = nil
	if _, err := NewSource(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "asi: activities: live_computed streams the activities (or timeframes) listed") {
		t.Errorf("live_computed without activities: got %v, want an error", err)
	}
}

// TestLiveTimeframeEnds streams time frame 1 from 20 s before its end: the
// unit ends by itself at the end, after the last message.
func TestLiveTimeframeEnds(t *testing.T) {
	opts := asitest.DefaultOptions()
	opts.Now = opts.Start.Add(opts.Session - 20*time.Second)
	emu := asitest.NewServer(t, opts)
	emu.SetLive(asitest.Live{Speed: 40})
	cfg := liveConfig(emu, 0)
	cfg.Streams, cfg.Timeframes, cfg.Devices = []string{"live_computed"}, []int64{1}, nil
	src, err := NewSource(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	units, err := src.Units(context.Background())
	if err != nil || strings.Join(units, ",") != "live/timeframe/1" {
		t.Fatalf("Units: got %v, %v, want [live/timeframe/1]", units, err)
	}
	r, err := readLiveUnit(t, src, "live/timeframe/1", func(*liveRun) bool { return false })
	if err != nil {
		t.Fatalf("Read: got %v, want nil at the time frame's end", err)
	}
	if n := len(r.frames); n < 15 || n > 21 || r.athletes != n {
		t.Errorf("got %d rows (%d with an athlete id), want about 20, each with its athlete", n, r.athletes)
	}
}

// TestLiveTimeframeEndsWhenQuiet streams time frame 1 from 20 s before its
// end, but the device goes quiet after 5 messages: the unit still ends, once
// the server's clock has passed the end.
func TestLiveTimeframeEndsWhenQuiet(t *testing.T) {
	opts := asitest.DefaultOptions()
	opts.Now = opts.Start.Add(opts.Session - 20*time.Second)
	emu := asitest.NewServer(t, opts)
	emu.SetLive(asitest.Live{Speed: 40, DisconnectEvery: 5, DisconnectFor: 1000})
	cfg := liveConfig(emu, 0)
	cfg.Streams, cfg.Timeframes, cfg.Devices = []string{"live_computed"}, []int64{1}, nil
	var logs bytes.Buffer
	src, err := NewSource(cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	start := time.Now()
	r, err := readLiveUnit(t, src, "live/timeframe/1", func(*liveRun) bool { return false })
	if err != nil {
		t.Fatalf("Read: got %v after %s, want nil once the server's clock passed the end", err, time.Since(start))
	}
	if n := len(r.frames); n != 5 {
		t.Errorf("got %d rows, want the 5 sent", n)
	}
	if !strings.Contains(logs.String(), "live time frame ended") {
		t.Errorf("log: got %s, want the end", logs.String())
	}
}
