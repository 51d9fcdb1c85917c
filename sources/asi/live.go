package asi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/cenkalti/backoff/v5"
	json "github.com/goccy/go-json"
	"github.com/gorilla/websocket"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sources/asi/asitest"
)

// StreamGaps is the stream of gaps in the live streams: one row per period
// a live unit received nothing (dropped socket, restart, device quiet).
const StreamGaps = "asi.gaps"

// unitLivePrefix prefixes live units: live/device/<id>.
const unitLiveDevicePrefix = "live/device/"

// pathLivePreprocessed is the live preprocessed-data WebSocket path.
const pathLivePreprocessed = "/ws/v1/preprocessed-data/{device}/"

// LiveConfig tunes the live streams. The server params are checked with the
// server's own ranges before any connection is made.
type LiveConfig struct {
	BufferSize    int           `yaml:"buffer_size" doc:"server-side reorder buffer in messages, 0 to 60 (about that many seconds of delay)" default:"0"`
	DropOlder     bool          `yaml:"drop_older" doc:"let the server drop a message older than the last one forwarded" default:"false"`
	FlushTimeout  int           `yaml:"flush_timeout" doc:"seconds without input after which the server flushes its buffer, 2 to 62 and at least buffer_size + 2" default:"10"`
	ReconnectWait time.Duration `yaml:"reconnect_wait" doc:"first wait before reconnecting after a drop; doubles with jitter up to reconnect_max" default:"500ms"`
	ReconnectMax  time.Duration `yaml:"reconnect_max" doc:"longest wait between reconnections" default:"30s"`
	Gap           time.Duration `yaml:"gap" doc:"a jump in event time longer than this between messages is reported as a gap" default:"3s"`
}

// DefaultLiveConfig returns the server's defaults and our reconnect policy.
func DefaultLiveConfig() LiveConfig {
	return LiveConfig{FlushTimeout: 10, ReconnectWait: 500 * time.Millisecond, ReconnectMax: 30 * time.Second, Gap: 3 * time.Second}
}

func (l LiveConfig) problems() []problem {
	var ps []problem
	add := func(key, format string, args ...any) { ps = append(ps, problem{key, fmt.Sprintf(format, args...)}) }
	if l.BufferSize < 0 || l.BufferSize > 60 {
		add("buffer_size", "must be between 0 and 60, got %d", l.BufferSize)
	}
	switch {
	case l.FlushTimeout < 2 || l.FlushTimeout > 62:
		add("flush_timeout", "must be between 2 and 62, got %d", l.FlushTimeout)
	case l.FlushTimeout < l.BufferSize+2:
		add("flush_timeout", "must be at least buffer_size + 2 = %d, got %d", l.BufferSize+2, l.FlushTimeout)
	}
	if l.ReconnectWait <= 0 {
		add("reconnect_wait", "must be > 0, got %s", l.ReconnectWait)
	}
	if l.ReconnectMax < l.ReconnectWait {
		add("reconnect_max", "must be at least reconnect_wait (%s), got %s", l.ReconnectWait, l.ReconnectMax)
	}
	if l.Gap <= 0 {
		add("gap", "must be > 0, got %s", l.Gap)
	}
	return ps
}

// livePos is a live unit's position: the newest event time (UNIX ms) received.
// A live stream cannot be replayed, so a restart reports the time since as a gap.
type livePos struct {
	Last int64 `json:"last"`
}

// LiveStats counts what the live streams did.
type LiveStats struct {
	Messages, Gaps, Reconnects int64
}

// liveCounters are the source's live counters.
type liveCounters struct {
	messages, gaps, reconnects atomic.Int64
}

// LiveStats returns the live counters so far.
func (s *Source) LiveStats() LiveStats {
	return LiveStats{Messages: s.live.messages.Load(), Gaps: s.live.gaps.Load(), Reconnects: s.live.reconnects.Load()}
}

// closeRefused is a close the server sent because of what we asked: it is not
// retried (except an expired token, refreshed once).
type closeRefused struct {
	code   int
	reason string
}

func (e *closeRefused) Error() string {
	what := map[int]string{asitest.CloseUnauthenticated: "unauthenticated", asitest.CloseForbidden: "forbidden",
		asitest.CloseAuthTimeout: "authentication timeout", asitest.CloseBadParams: "bad params"}[e.code]
	return fmt.Sprintf("server closed the stream: %d %s: %s", e.code, what, e.reason)
}

// wsURL turns the base URL into the WebSocket URL of path.
func wsURL(base, path string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	return u.String(), nil
}

// readLiveDevice streams a device's preprocessed data until ctx ends.
func (s *Source) readLiveDevice(ctx context.Context, c *connection, unit string, id int64, from core.Position, emit core.Emit) error {
	want := groupSelector(s.cfg.Groups)
	return s.readLive(ctx, c, unit, expand(pathLivePreprocessed, "device", id), from, emit, messageTime,
		func(ctx context.Context, lr *liveRead, msg []byte, pos core.Position) error {
			p := decodePage([]json.RawMessage{msg}, want)
			for _, r := range p.rejects {
				s.reject(ctx, StreamPreprocessed+"*", unit, r.raw, r.reason)
			}
			names := p.names()
			if len(names) == 0 {
				return lr.emit(ctx, core.Batch{Unit: unit, Position: pos})
			}
			for _, name := range names {
				rec := p.groups[name].build(s.mem, id)
				if err := lr.emit(ctx, core.Batch{Stream: streamName(name), Unit: unit, Record: rec, Position: pos}); err != nil {
					return err
				}
			}
			return nil
		})
}

// readLive streams path until ctx ends, reconnecting with backoff after
// every drop and reporting each gap; timeOf gives a message's event time
// (UNIX ms) and rows emits its rows with pos.
func (s *Source) readLive(ctx context.Context, c *connection, unit, path string, from core.Position, emit core.Emit,
	timeOf func([]byte) int64, rows func(ctx context.Context, lr *liveRead, msg []byte, pos core.Position) error) error {
	var pos livePos
	if err := decodePos(from, &pos); err != nil {
		return fmt.Errorf("asi: %s: %w", unit, err)
	}
	base := s.cfg.BaseURL
	if c.emu != nil {
		base = c.emu.URL()
	}
	target, err := wsURL(base, path)
	if err != nil {
		return fmt.Errorf("asi: %s: %w", unit, err)
	}
	// Once the run stops, emit still takes every batch but reports the stop;
	// while session drains the connection, the rest of the message and of
	// what the server had sent are emitted all the same.
	drainingEmit := func(ectx context.Context, b core.Batch) error {
		err := emit(ectx, b)
		if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil
		}
		return err
	}
	lr := &liveRead{s: s, c: c, unit: unit, emit: drainingEmit, last: pos.Last, timeOf: timeOf, rows: rows}
	if from != nil {
		lr.gapFrom, lr.gapWhy = pos.Last, "not running"
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.RandomizationFactor = s.cfg.Live.ReconnectWait, s.cfg.Live.ReconnectMax, 0.5
	refreshed := false
	for {
		got, err := lr.session(ctx, target)
		if errors.Is(err, errTimeframeEnded) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("asi: %s: %w", unit, ctx.Err())
		}
		if got > 0 {
			bo.Reset()
			refreshed = false
		}
		var cr *closeRefused
		switch {
		case errors.As(err, &cr) && cr.code == asitest.CloseUnauthenticated && !refreshed:
			// The token expired or was revoked on the way: a fresh one, once.
			c.auth.Invalidate(lr.token)
			refreshed = true
		case errors.As(err, &cr) && cr.code != asitest.CloseAuthTimeout:
			// Forbidden, bad params, or a fresh token refused: retrying
			// cannot help. (Our authentication arriving late can.)
			return fmt.Errorf("asi: %s: %w", unit, err)
		}
		if lr.gapFrom == 0 {
			lr.gapFrom, lr.gapWhy = lr.last, "connection lost: "+errText(err)
		}
		wait := bo.NextBackOff()
		s.log.Warn("asi: live stream lost, reconnecting", "unit", unit, "err", errText(err), "wait", wait)
		s.live.reconnects.Add(1)
		s.counters.Add("asi.reconnects", 1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("asi: %s: %w", unit, ctx.Err())
		case <-t.C:
		}
	}
}

func errText(err error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}

// liveRead is one live unit being read.
type liveRead struct {
	s      *Source
	c      *connection
	unit   string
	emit   core.Emit
	timeOf func([]byte) int64
	rows   func(ctx context.Context, lr *liveRead, msg []byte, pos core.Position) error
	token  string
	last   int64 // newest event time received, UNIX ms
	// gapFrom is set (with its reason) when the stream was interrupted after
	// the event time gapFrom; the next message closes the gap.
	gapFrom int64
	gapWhy  string
}

// session connects, authenticates and reads until the stream ends; it returns
// how many messages it got.
func (lr *liveRead) session(ctx context.Context, target string) (int, error) {
	tok, err := lr.c.auth.Token(ctx) // refreshed here if it is about to expire
	if err != nil {
		return 0, err
	}
	lr.token = tok
	d := websocket.Dialer{HandshakeTimeout: lr.s.cfg.Timeout, Proxy: http.ProxyFromEnvironment}
	conn, resp, err := d.DialContext(ctx, target, nil)
	if err != nil {
		if resp != nil {
			return 0, fmt.Errorf("connecting to %s: %w (HTTP %d)", target, err, resp.StatusCode)
		}
		return 0, fmt.Errorf("connecting to %s: %w", target, err)
	}
	defer conn.Close()
	// A stop closes the stream the WebSocket way: our close frame, then
	// reading on until the server's answers it, so what the server sent
	// before it saw ours is still read and emitted (emit takes batches
	// while the run stops). A server that does not answer within
	// drainTimeout loses the connection.
	stop := context.AfterFunc(ctx, func() {
		deadline := time.Now().Add(drainTimeout)
		conn.SetReadDeadline(deadline)
		if conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "stopping"), deadline) != nil {
			conn.Close()
		}
	})
	defer stop()
	l := lr.s.cfg.Live
	auth := map[string]any{"token": tok, "params": map[string]any{
		"buffer_size": l.BufferSize, "drop_older": l.DropOlder, "flush_timeout": l.FlushTimeout}}
	if err := conn.WriteJSON(auth); err != nil {
		return 0, fmt.Errorf("authenticating: %w", err)
	}
	n := 0
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code >= 4000 && ce.Code < 5000 {
				err = &closeRefused{code: ce.Code, reason: ce.Text}
				lr.s.log.Error("asi: live stream refused", "unit", lr.unit, "code", ce.Code, "reason", ce.Text)
			}
			return n, err
		}
		n++
		lr.s.live.messages.Add(1)
		if err := lr.message(ctx, msg); err != nil {
			return n, err
		}
	}
}

// message emits the gap the message closes, if any, then its rows.
func (lr *liveRead) message(ctx context.Context, msg []byte) error {
	t := lr.timeOf(msg)
	gap := lr.s.cfg.Live.Gap.Milliseconds()
	switch {
	case lr.gapFrom > 0 && t > lr.gapFrom:
		if err := lr.reportGap(ctx, lr.gapFrom, t, lr.gapWhy); err != nil {
			return err
		}
	case lr.last > 0 && t-lr.last > gap:
		if err := lr.reportGap(ctx, lr.last, t, "no data"); err != nil {
			return err
		}
	}
	lr.gapFrom = 0
	lr.last = max(lr.last, t)
	return lr.rows(ctx, lr, msg, encodePos(livePos{Last: lr.last}))
}

// gapSchema is the schema of StreamGaps.
var gapSchema = arrow.NewSchema([]arrow.Field{
	{Name: "unit", Type: arrow.BinaryTypes.String},
	{Name: "start", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
	{Name: "end", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
	{Name: "reason", Type: arrow.BinaryTypes.String},
}, nil)

// reportGap logs, counts and emits the gap (start, end) in event time.
func (lr *liveRead) reportGap(ctx context.Context, start, end int64, why string) error {
	lr.s.live.gaps.Add(1)
	lr.s.counters.Add("asi.gaps", 1)
	lr.s.log.Warn("asi: gap in live stream", "unit", lr.unit,
		"start", time.UnixMilli(start).UTC(), "end", time.UnixMilli(end).UTC(), "reason", why)
	b := array.NewRecordBuilder(lr.s.mem, gapSchema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append(lr.unit)
	b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(start))
	b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(end))
	b.Field(3).(*array.StringBuilder).Append(why)
	return lr.emit(ctx, core.Batch{Stream: StreamGaps, Unit: lr.unit, Record: b.NewRecordBatch(),
		Position: encodePos(livePos{Last: lr.last})})
}

// messageTime returns the newest timestamp (UNIX ms) of a preprocessed
// message, 0 if it has none or is not an object of groups with numeric
// timestamp arrays.
//
// It walks the bytes with members and parseNumbers (see scan.go) rather than
// decoding into a map: that second decode of every message was 5% of the
// source's CPU on the live benchmark.
func messageTime(msg []byte) int64 {
	var t int64
	var scratch []float64
	err := members(msg, func(_, group []byte) error {
		if string(group) == "null" {
			return nil
		}
		return members(group, func(key, value []byte) error {
			if string(key) != "timestamp" || string(value) == "null" {
				return nil
			}
			vals, _, ok := parseNumbers(value, scratch[:0], nil)
			if !ok {
				return errNotObject
			}
			for _, v := range vals {
				t = max(t, int64(v))
			}
			scratch = vals
			return nil
		})
	})
	if err != nil {
		return 0
	}
	return t
}

var _ core.LiveSource = (*Source)(nil)

// Live implements core.LiveSource: the live/... units are live streams.
func (s *Source) Live(unit string) bool { return strings.HasPrefix(unit, "live/") }

// parseLiveUnit returns the device id of a live unit.
func parseLiveUnit(unit string) (int64, bool) {
	id, err := strconv.ParseInt(strings.TrimPrefix(unit, unitLiveDevicePrefix), 10, 64)
	return id, err == nil && strings.HasPrefix(unit, unitLiveDevicePrefix)
}

// StreamComputedLive is the stream of live computed data: asi.computed's
// schema, one row per message (a snapshot of a time frame's analytics), with
// version 0.
const StreamComputedLive = "asi.computed.live"

const (
	unitLiveActivityPrefix = "live/activity/"
	pathLiveActivity       = "/ws/v1/computed-data/{activity}/"
)

// readLiveActivity streams the computed data of every time frame of an
// activity until ctx ends. The time frame's ids and period come from its REST
// object, fetched once per time frame; if that fails the row has the
// activity id only.
func (s *Source) readLiveActivity(ctx context.Context, c *connection, unit string, id int64, from core.Position, emit core.Emit) error {
	frames := map[int64]map[string]json.RawMessage{}
	return s.readLive(ctx, c, unit, expand(pathLiveActivity, "activity", id), from, emit, computedTime,
		func(ctx context.Context, lr *liveRead, msg []byte, pos core.Position) error {
			var m struct {
				Timeframe int64           `json:"timeframe"`
				Data      json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(msg, &m); err != nil || m.Timeframe == 0 {
				s.reject(ctx, StreamComputedLive, unit, msg, `message is not {"timeframe": <id>, "data": {...}}`)
				return lr.emit(ctx, core.Batch{Unit: unit, Position: pos})
			}
			tf, ok := frames[m.Timeframe]
			if !ok {
				tf = s.liveTimeframe(ctx, c, m.Timeframe, id)
				frames[m.Timeframe] = tf
			}
			row, err := decodeComputed(m.Timeframe, 0, tf, m.Data)
			if err != nil {
				s.reject(ctx, StreamComputedLive, unit, msg, err.Error())
				return lr.emit(ctx, core.Batch{Unit: unit, Position: pos})
			}
			return lr.emit(ctx, core.Batch{Stream: StreamComputedLive, Unit: unit, Record: buildComputed(s.mem, []computedRow{row}), Position: pos})
		})
}

// liveTimeframe returns time frame id's REST object, or just its activity.
func (s *Source) liveTimeframe(ctx context.Context, c *connection, id, activity int64) map[string]json.RawMessage {
	body, err := c.client.Get(ctx, pathTimeframes+strconv.FormatInt(id, 10)+"/", nil)
	var tf map[string]json.RawMessage
	if err == nil {
		err = json.Unmarshal(body, &tf)
	}
	if err != nil || tf == nil {
		s.log.Warn("asi: live computed data: time frame not readable, its row has the activity id only", "timeframe", id, "err", err)
		return map[string]json.RawMessage{"activity": json.RawMessage(strconv.FormatInt(activity, 10))}
	}
	return tf
}

// computedTime returns the last_timestamp (UNIX ms) of a computed-data
// message, bare or wrapped in {"timeframe", "data"}; 0 if it has none.
func computedTime(msg []byte) int64 {
	var m struct {
		LastTimestamp float64 `json:"last_timestamp"`
		Data          struct {
			LastTimestamp float64 `json:"last_timestamp"`
		} `json:"data"`
	}
	if json.Unmarshal(msg, &m) != nil {
		return 0
	}
	return int64(max(m.LastTimestamp, m.Data.LastTimestamp))
}

const (
	unitLiveTimeframePrefix = "live/timeframe/"
	pathLiveTimeframe       = "/ws/v1/computed-data/{activity}/{timeframe}/"
)

// readLiveTimeframe streams the computed data of one time frame into
// asi.computed.live and ends the unit (so the runner flushes and commits it)
// at the time frame's end: once a message reaches it, or once the server's
// clock has passed it (see watchTimeframeEnd), since a device that stopped
// sending would otherwise keep the unit open for ever.
func (s *Source) readLiveTimeframe(ctx context.Context, c *connection, unit string, id int64, from core.Position, emit core.Emit) error {
	tf, ids, err := s.liveTimeframeEnd(ctx, c, unit, id)
	if err != nil {
		return err
	}
	var end atomic.Int64
	end.Store(ids.End.UnixMilli())
	var lastMsg atomic.Int64 // wall clock of the last message, UNIX ns
	lastMsg.Store(time.Now().UnixNano())
	sctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go s.watchTimeframeEnd(sctx, c, unit, id, &end, &lastMsg, stop)
	path := expand(expand(pathLiveTimeframe, "activity", ids.Activity), "timeframe", id)
	err = s.readLive(sctx, c, unit, path, from, emit, computedTime,
		func(ctx context.Context, lr *liveRead, msg []byte, pos core.Position) error {
			lastMsg.Store(time.Now().UnixNano())
			row, err := decodeComputed(id, 0, tf, msg)
			if err != nil {
				s.reject(ctx, StreamComputedLive, unit, msg, err.Error())
				return lr.emit(ctx, core.Batch{Unit: unit, Position: pos})
			}
			if err := lr.emit(ctx, core.Batch{Stream: StreamComputedLive, Unit: unit, Record: buildComputed(s.mem, []computedRow{row}), Position: pos}); err != nil {
				return err
			}
			if lr.last >= end.Load()-1000 {
				return errTimeframeEnded
			}
			return nil
		})
	if errors.Is(err, errTimeframeEnded) || (ctx.Err() == nil && errors.Is(context.Cause(sctx), errTimeframeEnded)) {
		s.log.Info("asi: live time frame ended", "unit", unit, "end", time.UnixMilli(end.Load()).UTC())
		return nil
	}
	return err
}

// timeframeEndCheck is how often a live time frame's unit checks whether
// the server's clock has passed the time frame's end.
const timeframeEndCheck = time.Second

// liveTimeframeEnd fetches time frame id: its REST object and its activity
// and end.
func (s *Source) liveTimeframeEnd(ctx context.Context, c *connection, unit string, id int64) (map[string]json.RawMessage, timeframeEnd, error) {
	var ids timeframeEnd
	body, err := c.client.Get(ctx, pathTimeframes+strconv.FormatInt(id, 10)+"/", nil)
	if err != nil {
		return nil, ids, fmt.Errorf("asi: %s: %w", unit, err)
	}
	var tf map[string]json.RawMessage
	if err := json.Unmarshal(body, &tf); err != nil {
		return nil, ids, fmt.Errorf("asi: %s: time frame: %w", unit, err)
	}
	if err := json.Unmarshal(body, &ids); err != nil || ids.Activity == 0 || ids.End.IsZero() {
		return nil, ids, fmt.Errorf("asi: %s: time frame without an activity or end_time: %s", unit, body)
	}
	return tf, ids, nil
}

type timeframeEnd struct {
	Activity int64     `json:"activity"`
	End      time.Time `json:"end_time"`
}

// watchTimeframeEnd stops a live time frame's stream (cause
// errTimeframeEnded) once the server's clock has passed its end, plus the
// server's flush_timeout when it buffers (its buffer is flushed by then).
// When the stream has been quiet for a check's interval it fetches the time
// frame again, which brings the server's clock (its Date, which is never
// ahead) and a changed end.
func (s *Source) watchTimeframeEnd(ctx context.Context, c *connection, unit string, id int64, end, lastMsg *atomic.Int64, stop context.CancelCauseFunc) {
	var grace int64
	if s.cfg.Live.BufferSize > 0 {
		grace = int64(s.cfg.Live.FlushTimeout) * 1000
	}
	t := time.NewTicker(timeframeEndCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, lastMsg.Load())) >= timeframeEndCheck {
			_, ids, err := s.liveTimeframeEnd(ctx, c, unit, id)
			if err != nil {
				s.log.Debug("asi: live time frame: cannot check its end now", "unit", unit, "err", err)
				continue
			}
			end.Store(ids.End.UnixMilli())
		}
		if c.client.Now().UnixMilli() >= end.Load()+grace {
			stop(errTimeframeEnded)
			return
		}
	}
}

// errTimeframeEnded ends a live time frame's stream at the time frame's end.
var errTimeframeEnded = errors.New("time frame ended")

// drainTimeout bounds how long a stopping live stream waits for the server
// to answer its close frame (see session).
const drainTimeout = 2 * time.Second
