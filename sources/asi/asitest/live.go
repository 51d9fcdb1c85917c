package asitest

import (
	"errors"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	json "github.com/goccy/go-json"
	"github.com/gorilla/websocket"
)

// WebSocket close codes the emulator uses ([assumed] in the contract), each
// sent with a reason text.
const (
	CloseBadParams       = 4000
	CloseUnauthenticated = 4001
	CloseForbidden       = 4003
	CloseAuthTimeout     = 4008
)

// AuthTimeout is how long the service waits for the authentication message.
const AuthTimeout = 3 * time.Second

// Live tunes the live WebSocket streams (/ws/v1/...). Every knob is
// deterministic: it acts on a message's slot number, never at random.
//
// Slots: the live timeline starts when the first stream connects after
// SetLive, at the simulated clock's reading then, and runs Speed simulated
// seconds per real second; slot k of a stream is the instant start + k/Rate
// seconds. A stream sends the message of every slot from its connection on,
// so a client that reconnects has missed the slots in between (a gap), as on
// the real service. The streams move the Clock forward as they go.
type Live struct {
	// Rate is messages per second per stream (default 1). Preprocessed
	// messages at Rate > 1 carry the samples of their 1/Rate s window
	// (Options.Rate sets the GNSS samples per second).
	Rate int
	// Speed is simulated seconds per real second (default 1); tests go fast.
	Speed float64
	// OutOfOrderEvery sends every Nth message just after its successor (0: never).
	OutOfOrderEvery int
	// LateEvery holds every Nth message back LateBy slots (0: never).
	LateEvery, LateBy int
	// DisconnectEvery, DisconnectFor: after every DisconnectEvery slots a
	// device sends nothing for DisconnectFor slots (it went out of range).
	DisconnectEvery, DisconnectFor int
	// DropAfter makes the server drop the socket (no close frame) after it
	// has sent this many messages on one connection (0: never).
	DropAfter int
	// AuthTimeout replaces the 3 s wait for the authentication message
	// (0: AuthTimeout), so that tests need not wait.
	AuthTimeout time.Duration
	// Stagger spreads the streams' sends over the message interval, each
	// stream at its own phase (from a hash of its path), as devices with
	// their own clocks do; otherwise every stream sends at about the same
	// instant, a burst at each slot (the worst case). Event times are the
	// same either way: the phase delays the send.
	Stagger bool
	// Sent, if set, is called after each message is written to a socket,
	// with the stream's URL path and the message's event time (its slot's
	// instant), on the stream's goroutine: it must be safe for concurrent
	// use. Latency benchmarks take it as the message's arrival.
	Sent func(path string, t time.Time)
}

// LiveStats counts what the live streams did.
type LiveStats struct {
	// Connections counts WebSocket connections accepted; Streaming those that
	// authenticated.
	Connections, Streaming int64
	// Sent counts messages written; DroppedOlder those drop_older discarded.
	Sent, DroppedOlder int64
	// Closed counts closes by the server, by close code (-1: socket dropped).
	Closed map[int]int64
}

type liveState struct {
	mu       sync.Mutex
	cfg      Live
	started  bool
	simBase  time.Time
	realBase time.Time
	stats    LiveStats
}

// SetLive replaces the live stream knobs and restarts the live timeline.
func (s *Server) SetLive(l Live) {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	s.live.cfg = l
	s.live.started = false
}

// LiveStats returns a copy of the live stream counters.
func (s *Server) LiveStats() LiveStats {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	out := s.live.stats
	out.Closed = map[int]int64{}
	for k, v := range s.live.stats.Closed {
		out.Closed[k] = v
	}
	return out
}

func (s *Server) liveCount(f func(st *LiveStats)) {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	if s.live.stats.Closed == nil {
		s.live.stats.Closed = map[int]int64{}
	}
	f(&s.live.stats)
}

// timeline returns the live knobs with defaults, and the live timeline's
// anchor, starting it if needed.
func (s *Server) timeline() (Live, time.Time, time.Time) {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	if !s.live.started {
		s.live.started = true
		s.live.simBase, s.live.realBase = s.Clock.Now(), time.Now()
	}
	l := s.live.cfg
	if l.Rate <= 0 {
		l.Rate = 1
	}
	if l.Speed <= 0 {
		l.Speed = 1
	}
	if l.AuthTimeout <= 0 {
		l.AuthTimeout = AuthTimeout
	}
	return l, s.live.simBase, s.live.realBase
}

// streamParams are the buffer parameters of the authentication message.
type streamParams struct {
	BufferSize   int
	DropOlder    bool
	FlushTimeout int
}

// parseParams checks params as the service does; the error is the close reason.
func parseParams(raw json.RawMessage) (streamParams, string) {
	p := streamParams{FlushTimeout: 10}
	if len(raw) == 0 || string(raw) == "null" {
		return p, ""
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return p, "params: want a JSON object"
	}
	integer := func(key string, lo, hi int, out *int) string {
		v, ok := m[key]
		if !ok {
			return ""
		}
		n, err := strconv.Atoi(string(v))
		if err != nil || n < lo || n > hi {
			return "params." + key + ": got " + string(v) + ", want an integer in [" + strconv.Itoa(lo) + "," + strconv.Itoa(hi) + "]"
		}
		*out = n
		return ""
	}
	for k := range m {
		if k != "buffer_size" && k != "drop_older" && k != "flush_timeout" {
			return p, "params." + k + ": unknown parameter (want buffer_size, drop_older, flush_timeout)"
		}
	}
	if msg := integer("buffer_size", 0, 60, &p.BufferSize); msg != "" {
		return p, msg
	}
	if msg := integer("flush_timeout", 2, 62, &p.FlushTimeout); msg != "" {
		return p, msg
	}
	if v, ok := m["drop_older"]; ok {
		if err := json.Unmarshal(v, &p.DropOlder); err != nil {
			return p, "params.drop_older: got " + string(v) + ", want true or false"
		}
	}
	if p.FlushTimeout < p.BufferSize+2 {
		return p, "params.flush_timeout: got " + strconv.Itoa(p.FlushTimeout) + ", want at least buffer_size + 2 = " + strconv.Itoa(p.BufferSize+2)
	}
	return p, ""
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// streamSource says what a stream sends: the message of a slot at instant t
// (ms), or nil when there is none (the device is not recording).
type streamSource func(t time.Time, rate int) []byte

func (s *Server) liveRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /ws/v1/preprocessed-data/{device}/{$}", s.serveLive)
	m.HandleFunc("GET /ws/v1/computed-data/{activity}/{$}", s.serveLive)
	m.HandleFunc("GET /ws/v1/computed-data/{activity}/{timeframe}/{$}", s.serveLive)
}

// serveLive accepts a WebSocket, authenticates it as the contract says and
// streams until the client goes or the server drops it.
func (s *Server) serveLive(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered
	}
	defer conn.Close()
	s.liveCount(func(st *LiveStats) { st.Connections++ })
	l, simBase, realBase := s.timeline()
	closeWith := func(code int, reason string) {
		s.liveCount(func(st *LiveStats) { st.Closed[code]++ })
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	}

	conn.SetReadDeadline(time.Now().Add(l.AuthTimeout))
	var auth struct {
		Token  string          `json:"token"`
		Params json.RawMessage `json:"params"`
	}
	_, first, err := conn.ReadMessage()
	if err != nil {
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			closeWith(CloseAuthTimeout, "no authentication message within "+l.AuthTimeout.String())
		}
		return
	}
	conn.SetReadDeadline(time.Time{})
	if err := json.Unmarshal(first, &auth); err != nil || auth.Token == "" {
		closeWith(CloseUnauthenticated, "the first message must be {\"token\": \"<access token>\"}")
		return
	}
	params, msg := parseParams(auth.Params)
	if msg != "" {
		closeWith(CloseBadParams, msg)
		return
	}
	src, code, reason := s.liveSource(r, auth.Token)
	if code != 0 {
		closeWith(code, reason)
		return
	}
	s.liveCount(func(st *LiveStats) { st.Streaming++ })

	gone := make(chan struct{})
	go func() { // the client sends nothing more; a read error means it went
		defer close(gone)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	s.stream(conn, r.URL.Path, l, simBase, realBase, params, src, gone)
}

// liveSource authenticates token and checks the caller may read the stream
// of r's path; code is a close code when he may not.
func (s *Server) liveSource(r *http.Request, token string) (src streamSource, code int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.auth.access[token]
	switch {
	case !ok, g.revoked:
		return nil, CloseUnauthenticated, "invalid token"
	case time.Now().After(g.expires):
		return nil, CloseUnauthenticated, "the access token expired"
	}
	u := s.w.users[g.user]
	if u.Role != RoleAdmin && u.Manager == nil {
		return nil, CloseForbidden, "only managers and administrators may stream"
	}
	id := func(name string) int64 { n, _ := strconv.ParseInt(r.PathValue(name), 10, 64); return n }
	c := &call{s: s, r: r, u: u, wd: s.w}
	if r.PathValue("device") != "" {
		d := s.w.devices[id("device")]
		if d == nil {
			return nil, CloseForbidden, "no device " + r.PathValue("device")
		}
		if u.Role != RoleAdmin && d.owner() != u.Manager.ID {
			return nil, CloseForbidden, "you do not own device " + r.PathValue("device")
		}
		return func(t time.Time, rate int) []byte { return s.livePreprocessed(d, t, rate) }, 0, ""
	}
	a := s.w.activities[id("activity")]
	if a == nil {
		return nil, CloseForbidden, "no activity " + r.PathValue("activity")
	}
	var tfs []*timeframe
	for _, tid := range sortedIDs(s.w.timeframes) {
		tf := s.w.timeframes[tid]
		if tf.Activity != a.ID || (r.PathValue("timeframe") != "" && tf.ID != id("timeframe")) {
			continue
		}
		if msg := c.readDenied(tf); msg != "" {
			return nil, CloseForbidden, msg
		}
		tfs = append(tfs, tf)
	}
	if len(tfs) == 0 {
		return nil, CloseForbidden, "no time frame " + r.PathValue("timeframe") + " in activity " + r.PathValue("activity")
	}
	perActivity := r.PathValue("timeframe") == ""
	return func(t time.Time, _ int) []byte { return s.liveComputed(tfs, t, perActivity) }, 0, ""
}

// livePreprocessed is the message of device d for the window [t, t+1/rate).
func (s *Server) livePreprocessed(d *device, t time.Time, rate int) []byte {
	if len(intersect(d.recording, period{t, t.Add(time.Second / time.Duration(rate))})) == 0 {
		return nil
	}
	m := d.gen.message(t.Unix())
	body, _ := json.Marshal(m)
	if rate == 1 {
		return body
	}
	lo := t.UnixMilli()
	hi := lo + int64(1000/rate)
	var groups map[string]map[string][]json.RawMessage
	json.Unmarshal(body, &groups)
	out := map[string]map[string][]json.RawMessage{}
	for name, g := range groups {
		var keep []int
		for i, ts := range g["timestamp"] {
			n, _ := strconv.ParseInt(string(ts), 10, 64)
			if n >= lo && n < hi {
				keep = append(keep, i)
			}
		}
		if len(keep) == 0 {
			continue
		}
		ng := map[string][]json.RawMessage{}
		for field, vs := range g {
			for _, i := range keep {
				if i < len(vs) {
					ng[field] = append(ng[field], vs[i])
				}
			}
		}
		out[name] = ng
	}
	if len(out) == 0 {
		return nil
	}
	body, _ = json.Marshal(out)
	return body
}

// liveComputed is the computed data of tfs as of t: the object itself, or
// {"timeframe", "data"} per time frame for a per-activity stream (joined by
// newlines: one WebSocket message each).
func (s *Server) liveComputed(tfs []*timeframe, t time.Time, perActivity bool) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []byte
	for _, tf := range tfs {
		if t.Before(tf.Start) || !t.Before(tf.End) {
			continue
		}
		d := s.w.devices[tf.Device]
		if d == nil || len(intersect(d.recording, period{t, t.Add(time.Second)})) == 0 {
			continue
		}
		recorded := intersect(d.recording, period{tf.Start, t.Add(time.Second)})
		data := d.gen.computed(recorded, defaultThresholds, t)
		var body []byte
		if perActivity {
			body, _ = json.Marshal(computedView{Timeframe: tf.ID, Data: data})
		} else {
			body, _ = json.Marshal(data)
		}
		if out != nil {
			out = append(out, '\n')
		}
		out = append(out, body...)
	}
	return out
}

// queued is a message waiting to be sent.
type queued struct {
	slot, due int64
	t         int64 // event time, UNIX ms
	body      []byte
}

// stream sends the message of every slot from now on through the fault knobs
// and the client's buffer params, until the client goes or DropAfter.
func (s *Server) stream(conn *websocket.Conn, path string, l Live, simBase, realBase time.Time, p streamParams, src streamSource, gone <-chan struct{}) {
	slotOf := func(now time.Time) int64 {
		return int64(float64(now.Sub(realBase)) * l.Speed * float64(l.Rate) / float64(time.Second))
	}
	instant := func(k int64) time.Time {
		return simBase.Add(time.Duration(k) * time.Second / time.Duration(l.Rate))
	}
	interval := time.Duration(float64(time.Second) / (l.Speed * float64(l.Rate)))
	if l.Stagger && interval > time.Millisecond {
		h := fnv.New32a()
		h.Write([]byte(path))
		phase := time.NewTimer(time.Duration(h.Sum32()) % interval)
		select {
		case <-gone:
			phase.Stop()
			return
		case <-phase.C:
		}
	}
	tick := time.NewTicker(max(interval, time.Millisecond))
	defer tick.Stop()

	next := slotOf(time.Now())
	var faults []queued // held back by OutOfOrderEvery / LateEvery
	var buf []queued    // the client's reorder buffer
	var lastSent int64 = -1 << 62
	lastInput := next
	sent := 0
	write := func(q queued) bool {
		if p.DropOlder && q.t < lastSent {
			s.liveCount(func(st *LiveStats) { st.DroppedOlder++ })
			return true
		}
		lastSent = max(lastSent, q.t)
		for _, part := range splitLines(q.body) {
			conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := conn.WriteMessage(websocket.TextMessage, part); err != nil {
				return false
			}
		}
		sent++
		s.liveCount(func(st *LiveStats) { st.Sent++ })
		if l.Sent != nil {
			l.Sent(path, time.UnixMilli(q.t))
		}
		if l.DropAfter > 0 && sent >= l.DropAfter {
			s.liveCount(func(st *LiveStats) { st.Closed[-1]++ })
			conn.NetConn().Close()
			return false
		}
		return true
	}
	forward := func(q queued) bool {
		if p.BufferSize == 0 {
			return write(q)
		}
		i, _ := slices.BinarySearchFunc(buf, q, func(a, b queued) int {
			if a.t != b.t {
				return int(a.t - b.t)
			}
			return int(a.slot - b.slot)
		})
		buf = slices.Insert(buf, i, q)
		for len(buf) > p.BufferSize {
			first := buf[0]
			buf = buf[1:]
			if !write(first) {
				return false
			}
		}
		return true
	}
	for {
		select {
		case <-gone:
			return
		case now := <-tick.C:
			cur := slotOf(now)
			for ; next <= cur; next++ {
				k := next
				at := instant(k)
				s.Clock.advanceTo(at)
				cycle := int64(l.DisconnectEvery + l.DisconnectFor)
				if l.DisconnectEvery > 0 && k%cycle >= int64(l.DisconnectEvery) {
					continue
				}
				body := src(at, l.Rate)
				if body == nil {
					continue
				}
				lastInput = k
				q := queued{slot: k, due: k, t: at.UnixMilli(), body: body}
				switch {
				case l.OutOfOrderEvery > 0 && k%int64(l.OutOfOrderEvery) == 0:
					q.due = k + 1
				case l.LateEvery > 0 && k%int64(l.LateEvery) == 0:
					q.due = k + int64(max(l.LateBy, 1))
				}
				faults = append(faults, q)
				// Due messages go out in slot order, except that one held
				// back goes just after those sent on time in its due slot.
				slices.SortStableFunc(faults, func(a, b queued) int {
					if a.due != b.due {
						return int(a.due - b.due)
					}
					return boolInt(a.slot != a.due) - boolInt(b.slot != b.due)
				})
				for len(faults) > 0 && faults[0].due <= k {
					f := faults[0]
					faults = faults[1:]
					if !forward(f) {
						return
					}
				}
			}
			// flush_timeout: the device has been quiet this many seconds.
			if len(buf) > 0 && float64(cur-lastInput)/float64(l.Rate) >= float64(p.FlushTimeout) {
				for _, q := range buf {
					if !write(q) {
						return
					}
				}
				buf = buf[:0]
			}
		}
	}
}

// splitLines splits a per-activity body into its messages.
func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := slices.Index(b, '\n')
		if i < 0 {
			return append(out, b)
		}
		out = append(out, b[:i])
		b = b[i+1:]
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Timeline returns the live timeline's anchor: the simulated instant slot 0
// stands for and the real time it started (both zero before the first live
// connection). With Speed 1, a message of event time t is produced at
// real + (t - sim).
func (s *Server) Timeline() (sim, real time.Time) {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	if !s.live.started {
		return time.Time{}, time.Time{}
	}
	return s.live.simBase, s.live.realBase
}
