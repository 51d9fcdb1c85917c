package asitest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"
)

// Server is the ASI emulator: an http.Handler serving the REST API and the
// OAuth 2.0 endpoints of the contract from an in-memory world seeded by
// Options. It is safe for concurrent use; tests change it while it serves
// through SetFaults, SetTokenLifetime and Clock.
//
// Use New for a bare handler, Start to serve it on an address, or NewServer in
// a test, which serves it on a loopback port and closes it when the test ends.
type Server struct {
	// Clock is the simulated time (see Clock). Tests move it to let time
	// frames finish and devices record.
	Clock *Clock

	opts Options
	mux  *http.ServeMux

	mu       sync.Mutex // guards w and auth
	w        *world
	auth     *authState
	lifetime time.Duration

	faultMu sync.Mutex
	faults  Faults
	nfault  int64
	stats   Stats

	hooks      sync.WaitGroup
	hookMu     sync.Mutex
	deliveries []Delivery
	hookClient *http.Client

	live liveState

	srv *http.Server
	url string
}

// Faults make the emulator misbehave on purpose, deterministically: the Nth
// API request (paths under /api/) since the last SetFaults is the one that
// fails. The OAuth endpoints are never faulted.
type Faults struct {
	// RateLimitEvery answers every Nth API request with 429 Too Many Requests
	// and a Retry-After header of RetryAfter (0: never).
	RateLimitEvery int
	// RetryAfter is the wait the 429 answers ask for, in whole seconds
	// (rounded up; 0 asks for none).
	RetryAfter time.Duration
	// ErrorEvery answers every Nth API request with 503 Service Unavailable
	// (0: never).
	ErrorEvery int
	// DropEvery closes the connection half-way through every Nth answer: the
	// client has the headers and part of the body, then EOF (0: never).
	DropEvery int
	// Delay holds every API answer this long before it is written.
	Delay time.Duration
	// Path limits the faults to requests whose path contains it ("" for every
	// API request).
	Path string
}

// Stats counts what the emulator did, for tests.
type Stats struct {
	// Requests counts API requests (paths under /api/), faulted or not.
	Requests int64
	// RateLimited, ServerErrors and Dropped count the injected faults.
	RateLimited, ServerErrors, Dropped int64
	// Status counts API answers by HTTP status (faults included).
	Status map[int]int64
	// Grants counts tokens issued by grant type (password,
	// authorization_code, refresh_token).
	Grants map[string]int64
	// Revoked counts successful revocations.
	Revoked int64
}

// Delivery is one webhook call the emulator made.
type Delivery struct {
	Webhook int64
	URL     string
	Event   string
	Body    []byte
	// Status is the receiver's HTTP status; Err the reason it failed, if so.
	Status int
	Err    string
}

// New builds an emulator from opts (see DefaultOptions) without serving it.
func New(opts Options) (*Server, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	w, err := seed(opts)
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now.IsZero() {
		now = opts.Start.Add(time.Duration(max(opts.Activities-1, 0))*24*time.Hour + opts.Session + time.Hour)
	}
	s := &Server{
		Clock:      NewClock(now),
		opts:       opts,
		w:          w,
		auth:       newAuthState(),
		lifetime:   opts.TokenLifetime,
		hookClient: &http.Client{Timeout: 5 * time.Second},
		stats:      Stats{Status: map[int]int64{}, Grants: map[string]int64{}},
	}
	s.routes()
	return s, nil
}

// NewServer serves a new emulator on a loopback port for the duration of the
// test; it fails the test if opts are invalid.
func NewServer(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Start serves the emulator on addr ("127.0.0.1:0" picks a free port) until
// Close.
func (s *Server) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("asitest: %w", err)
	}
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return nil
}

// URL is the base URL the emulator serves on ("" before Start).
func (s *Server) URL() string { return s.url }

// Close stops serving and waits for webhook calls in flight.
func (s *Server) Close() error {
	var err error
	if s.srv != nil {
		err = s.srv.Close()
	}
	s.hooks.Wait()
	return err
}

// Options returns the options the emulator was built with.
func (s *Server) Options() Options { return s.opts }

// SetFaults replaces the fault knobs and restarts their request count.
func (s *Server) SetFaults(f Faults) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults, s.nfault = f, 0
}

// SetTokenLifetime changes the lifetime of tokens issued from now on.
func (s *Server) SetTokenLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetime = d
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	out := s.stats
	out.Status = make(map[int]int64, len(s.stats.Status))
	for k, v := range s.stats.Status {
		out.Status[k] = v
	}
	out.Grants = make(map[string]int64, len(s.stats.Grants))
	for k, v := range s.stats.Grants {
		out.Grants[k] = v
	}
	return out
}

func (s *Server) count(f func(st *Stats)) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	f(&s.stats)
}

// Deliveries returns the webhook calls made so far, once every call in flight
// has finished.
func (s *Server) Deliveries() []Delivery {
	s.hooks.Wait()
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Date", s.Clock.Now().Format(http.TimeFormat))
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		s.dispatch(w, r)
		return
	}
	s.faultMu.Lock()
	f := s.faults
	s.stats.Requests++
	fault := ""
	if f.Path == "" || strings.Contains(r.URL.Path, f.Path) {
		s.nfault++
		n := s.nfault
		switch {
		case f.RateLimitEvery > 0 && n%int64(f.RateLimitEvery) == 0:
			fault = "429"
			s.stats.RateLimited++
		case f.ErrorEvery > 0 && n%int64(f.ErrorEvery) == 0:
			fault = "503"
			s.stats.ServerErrors++
		case f.DropEvery > 0 && n%int64(f.DropEvery) == 0:
			fault = "drop"
			s.stats.Dropped++
		}
	}
	s.faultMu.Unlock()

	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch fault {
	case "429":
		secs := int64((f.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		s.countStatus(http.StatusTooManyRequests)
		writeJSON(w, http.StatusTooManyRequests, detail("Request was throttled. Expected available in "+strconv.FormatInt(secs, 10)+" seconds."))
		return
	case "503":
		s.countStatus(http.StatusServiceUnavailable)
		writeJSON(w, http.StatusServiceUnavailable, detail("Service temporarily unavailable, try again later."))
		return
	case "drop":
		s.drop(w, r)
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	s.dispatch(rec, r)
	s.countStatus(rec.status)
}

func (s *Server) countStatus(code int) {
	if code == 0 {
		code = http.StatusOK
	}
	s.count(func(st *Stats) { st.Status[code]++ })
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// drop answers r for real, then sends the client the headers and half of the
// body (with the full Content-Length) and closes the connection.
func (s *Server) drop(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	s.dispatch(rec, r)
	body := rec.Body.Bytes()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	w.Write(body[:len(body)/2])
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

// dispatch routes r. Every route ends with a slash; a path without one is a
// 404, as on the real service, with a hint for the person reading it.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/") {
		// ServeMux would redirect to the path with the slash; the service does not.
		writeJSON(w, http.StatusNotFound, detail("Not found. Every path of this API ends with a slash: "+r.URL.Path+"/ (not "+r.URL.Path+")."))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// detail is the body of an error answer: {"detail": msg}.
func detail(msg string) map[string]string { return map[string]string{"detail": msg} }

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "asitest: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}
