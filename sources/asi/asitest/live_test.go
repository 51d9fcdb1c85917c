package asitest

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"github.com/gorilla/websocket"
)

// liveServer is an emulator whose clock is 10 minutes into the first
// activity, with two managers (manager2 owns nothing), streaming fast.
func liveServer(t *testing.T, l Live) *Server {
	t.Helper()
	opts := DefaultOptions()
	opts.Managers = 2
	opts.Now = opts.Start.Add(10 * time.Minute)
	s := NewServer(t, opts)
	if l.Speed == 0 {
		l.Speed = 40
	}
	if l.AuthTimeout == 0 {
		l.AuthTimeout = 200 * time.Millisecond
	}
	s.SetLive(l)
	return s
}

func token(t *testing.T, s *Server, user string) string {
	t.Helper()
	tok, ok := s.IssueToken(user)
	if !ok {
		t.Fatalf("IssueToken(%s): no such user", user)
	}
	return tok.AccessToken
}

func dial(t *testing.T, s *Server, path string) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(s.URL(), "http")+path, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", path, err, status)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c *websocket.Conn, v any) {
	t.Helper()
	if err := c.WriteJSON(v); err != nil {
		t.Fatal(err)
	}
}

// closeOf reads until the connection ends and returns its close error.
func closeOf(t *testing.T, c *websocket.Conn) *websocket.CloseError {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read: got %v, want a close", err)
		}
		return ce
	}
}

func TestLiveAuthRefused(t *testing.T) {
	s := liveServer(t, Live{})
	good, other := token(t, s, "manager1"), token(t, s, "manager2")
	tests := []struct {
		name       string
		path       string
		first      any // nil: send nothing
		wantCode   int
		wantReason string
	}{
		{"no authentication in time", "/ws/v1/preprocessed-data/1/", nil, CloseAuthTimeout, "no authentication message within 200ms"},
		{"bad token", "/ws/v1/preprocessed-data/1/", map[string]any{"token": "nope"}, CloseUnauthenticated, "invalid token"},
		{"no token", "/ws/v1/preprocessed-data/1/", map[string]any{"params": map[string]any{}}, CloseUnauthenticated, `the first message must be {"token": "<access token>"}`},
		{"not the owner", "/ws/v1/preprocessed-data/1/", map[string]any{"token": other}, CloseForbidden, "you do not own device 1"},
		{"no READ permission", "/ws/v1/computed-data/1/1/", map[string]any{"token": other}, CloseForbidden, "You do not have READ permission on athlete"},
		{"no READ permission, activity", "/ws/v1/computed-data/1/", map[string]any{"token": other}, CloseForbidden, "You do not have READ permission on athlete"},
		{"buffer_size too big", "/ws/v1/preprocessed-data/1/", map[string]any{"token": good, "params": map[string]any{"buffer_size": 61}}, CloseBadParams, "params.buffer_size: got 61, want an integer in [0,60]"},
		{"buffer_size not an integer", "/ws/v1/preprocessed-data/1/", map[string]any{"token": good, "params": map[string]any{"buffer_size": 2.5}}, CloseBadParams, "params.buffer_size: got 2.5, want an integer in [0,60]"},
		{"flush_timeout too small", "/ws/v1/preprocessed-data/1/", map[string]any{"token": good, "params": map[string]any{"flush_timeout": 1}}, CloseBadParams, "params.flush_timeout: got 1, want an integer in [2,62]"},
		{"flush_timeout below buffer_size + 2", "/ws/v1/preprocessed-data/1/", map[string]any{"token": good, "params": map[string]any{"buffer_size": 10, "flush_timeout": 11}}, CloseBadParams, "params.flush_timeout: got 11, want at least buffer_size + 2 = 12"},
		{"drop_older not a bool", "/ws/v1/preprocessed-data/1/", map[string]any{"token": good, "params": map[string]any{"drop_older": "yes"}}, CloseBadParams, `params.drop_older: got "yes", want true or false`},
		{"unknown param", "/ws/v1/preprocessed-data/1/", map[string]any{"token": good, "params": map[string]any{"bufer_size": 3}}, CloseBadParams, "params.bufer_size: unknown parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, s, tt.path)
			if tt.first != nil {
				send(t, c, tt.first)
			}
			ce := closeOf(t, c)
			if ce.Code != tt.wantCode || !strings.Contains(ce.Text, tt.wantReason) {
				t.Errorf("close: got %d %q, want %d %q", ce.Code, ce.Text, tt.wantCode, tt.wantReason)
			}
		})
	}
	if got := s.LiveStats().Streaming; got != 0 {
		t.Errorf("streams authenticated: got %d, want 0", got)
	}
}

// TestLiveAuthDefaultTimeout checks the contract's 3 s: an authentication
// sent after 2.5 s still streams.
func TestLiveAuthDefaultTimeout(t *testing.T) {
	s := liveServer(t, Live{AuthTimeout: -1})
	s.SetLive(Live{Speed: 40})
	c := dial(t, s, "/ws/v1/preprocessed-data/1/")
	time.Sleep(2500 * time.Millisecond)
	send(t, c, map[string]any{"token": token(t, s, "manager1")})
	if ts := readTimes(t, c, 1, "gnss"); len(ts) != 1 {
		t.Fatalf("got %d messages, want 1", len(ts))
	}
}

// readTimes reads n messages and returns the first timestamp of group in each.
func readTimes(t *testing.T, c *websocket.Conn, n int, group string) []int64 {
	t.Helper()
	var out []int64
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(out) < n {
		_, body, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("read message %d: %v", len(out), err)
		}
		var m map[string]map[string][]any
		if err := json.Unmarshal(body, &m); err != nil || len(m[group]["timestamp"]) == 0 {
			t.Fatalf("message %d: %v: %s", len(out), err, body)
		}
		ts, _ := m[group]["timestamp"][0].(float64)
		out = append(out, int64(ts))
	}
	return out
}

func inversions(ts []int64) int {
	n := 0
	for i := 1; i < len(ts); i++ {
		if ts[i] < ts[i-1] {
			n++
		}
	}
	return n
}

func TestLivePreprocessed(t *testing.T) {
	tests := []struct {
		name          string
		live          Live
		params        map[string]any
		n             int
		wantInversion bool
		wantDropped   bool
	}{
		{name: "in order at 1 Hz", n: 8},
		{name: "out of order without params", live: Live{OutOfOrderEvery: 3}, n: 12, wantInversion: true},
		{name: "buffer_size 2 reorders", live: Live{OutOfOrderEvery: 3}, params: map[string]any{"buffer_size": 2, "flush_timeout": 4}, n: 12},
		{name: "late messages without drop_older", live: Live{LateEvery: 4, LateBy: 3}, n: 12, wantInversion: true},
		{name: "drop_older drops late messages", live: Live{LateEvery: 4, LateBy: 3}, params: map[string]any{"drop_older": true}, n: 12, wantDropped: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := liveServer(t, tt.live)
			c := dial(t, s, "/ws/v1/preprocessed-data/1/")
			send(t, c, map[string]any{"token": token(t, s, "manager1"), "params": tt.params})
			ts := readTimes(t, c, tt.n, "gnss")
			if got := inversions(ts) > 0; got != tt.wantInversion {
				t.Errorf("timestamps %v: got out of order %v, want %v", ts, got, tt.wantInversion)
			}
			for i, v := range ts {
				if v%1000 != 0 {
					t.Errorf("message %d: got timestamp %d, want whole seconds at 1 Hz", i, v)
				}
			}
			c.Close()
			if got := s.LiveStats().DroppedOlder > 0; got != tt.wantDropped {
				t.Errorf("dropped by drop_older: got %v, want %v", got, tt.wantDropped)
			}
		})
	}
}

func TestLiveRate(t *testing.T) {
	opts := DefaultOptions()
	opts.Rate = 10
	opts.Now = opts.Start
	s := NewServer(t, opts)
	s.SetLive(Live{Rate: 10, Speed: 4})
	c := dial(t, s, "/ws/v1/preprocessed-data/2/")
	send(t, c, map[string]any{"token": token(t, s, "manager1")})
	ts := readTimes(t, c, 15, "gnss")
	for i := 1; i < len(ts); i++ {
		if ts[i]-ts[i-1] != 100 {
			t.Fatalf("timestamps %v: got a step of %d ms, want 100 ms at 10 Hz", ts, ts[i]-ts[i-1])
		}
	}
}

func TestLiveServerDrop(t *testing.T) {
	s := liveServer(t, Live{DropAfter: 3})
	c := dial(t, s, "/ws/v1/preprocessed-data/1/")
	send(t, c, map[string]any{"token": token(t, s, "manager1")})
	readTimes(t, c, 3, "gnss")
	ce := closeOf(t, c)
	if ce.Code != websocket.CloseAbnormalClosure {
		t.Errorf("after the drop: got close %d, want %d (no close frame)", ce.Code, websocket.CloseAbnormalClosure)
	}
	// The device streams on: a new connection continues later on the timeline.
	c2 := dial(t, s, "/ws/v1/preprocessed-data/1/")
	send(t, c2, map[string]any{"token": token(t, s, "manager1")})
	if ts := readTimes(t, c2, 1, "gnss"); ts[0] <= s.Options().Now.UnixMilli() {
		t.Errorf("after reconnecting: got timestamp %d, want one after the start %d", ts[0], s.Options().Now.UnixMilli())
	}
}

func TestLiveComputed(t *testing.T) {
	s := liveServer(t, Live{})
	tok := token(t, s, "manager1")

	c := dial(t, s, "/ws/v1/computed-data/1/1/")
	send(t, c, map[string]any{"token": tok})
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, body, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"total_distance", "max_speed", "last_timestamp", "accelerations"} {
		if _, ok := obj[k]; !ok {
			t.Errorf("time frame message: got keys %v, want %s", keys(obj), k)
		}
	}

	ca := dial(t, s, "/ws/v1/computed-data/1/")
	send(t, ca, map[string]any{"token": tok})
	seen := map[int64]bool{}
	ca.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(seen) < 4 {
		_, body, err := ca.ReadMessage()
		if err != nil {
			t.Fatalf("after time frames %v: %v", seen, err)
		}
		var m struct {
			Timeframe int64          `json:"timeframe"`
			Data      map[string]any `json:"data"`
		}
		if err := json.Unmarshal(body, &m); err != nil || m.Timeframe == 0 || m.Data["total_distance"] == nil {
			t.Fatalf("activity message: got %s, want {timeframe, data}", body)
		}
		seen[m.Timeframe] = true
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestLiveNeedsSlash(t *testing.T) {
	s := liveServer(t, Live{})
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(s.URL(), "http")+"/ws/v1/preprocessed-data/1", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Errorf("dial without the slash: got %v (status %s), want 404", err, strconv.Itoa(status))
	}
}
