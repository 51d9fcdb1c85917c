package azumiotest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options shape the emulated data. The zero value is valid: 3 users with 50
// check-ins each over the six types, seed 0.
type Options struct {
	// Seed determines every value; equal options give equal data.
	Seed int64
	// Users is the number of accounts, with ids 10001, 10002, ... (default 3).
	Users int
	// Checkins is the number of check-ins each user starts with (default 50;
	// 0 with NoCheckins).
	Checkins int
	// NoCheckins starts every user without check-ins.
	NoCheckins bool
	// Types are the check-in types the data is drawn from (default DefaultTypes).
	Types []string
	// UnknownType, if set, is one more type mixed into the check-ins: a type the
	// contract does not know, which a source must export rather than drop.
	UnknownType string
	// SameModified gives the first SameModified check-ins of every user one
	// common `modified` instant, so that a page of them cannot be paged past by
	// `since` alone.
	SameModified int
	// NoFragments serves check-ins without fragments.
	NoFragments bool
	// ClientID is the API client id that X-Client-ID must carry (default
	// "org.organization.example") and ClientSecret its secret for /api2/token
	// (default "emulator-secret").
	ClientID     string
	ClientSecret string
	// TokenTTL is the lifetime of issued access tokens on the emulator's clock;
	// 0 means they never expire.
	TokenTTL time.Duration
	// Start is the clock's initial time (default 2026-01-01T00:00:00Z); the
	// initial check-ins lie in the year before it.
	Start time.Time
}

// DefaultClientID is the API client id the emulator accepts unless Options say
// otherwise.
const DefaultClientID = "org.organization.example"

func (o Options) withDefaults() Options {
	if o.Users <= 0 {
		o.Users = 3
	}
	if o.Checkins <= 0 && !o.NoCheckins {
		o.Checkins = 50
	}
	if o.NoCheckins {
		o.Checkins = 0
	}
	if len(o.Types) == 0 {
		o.Types = DefaultTypes
	}
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.ClientSecret == "" {
		o.ClientSecret = "emulator-secret"
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return o
}

// Server is an in-memory Azumio API (see the package documentation). It is an
// http.Handler; NewServer or Start serve it on a loopback port.
//
// The fault knobs are atomic, so tests may set them at any time, also while a
// run is reading. Counters (Fail401 ... Truncate) apply to the next N API requests
// (check-ins, fragments, profile, subscriptions; never authorize or token) and
// count down to zero; each request takes at most one fault, checked in the order
// Slow, Drop, Fail401, Fail429, Fail500, Fail503, Truncate.
type Server struct {
	// Slow delays the next N answers by SlowDelay (nanoseconds; default 1s).
	Slow      atomic.Int64
	SlowDelay atomic.Int64
	// Drop closes the connection of the next N requests without answering.
	Drop atomic.Int64
	// Fail401 answers the next N requests 401, as if the token were revoked.
	Fail401 atomic.Int64
	// Fail429 answers the next N requests 429 with a Retry-After header of
	// RetryAfter seconds (default 1).
	Fail429    atomic.Int64
	RetryAfter atomic.Int64
	// Fail500 and Fail503 answer the next N requests with that status.
	Fail500 atomic.Int64
	Fail503 atomic.Int64
	// Truncate answers the next N requests 200 with only the first half of the
	// body, ending the response cleanly (the JSON is cut, not the connection).
	Truncate atomic.Int64
	// UnknownFields adds fields the contract does not document to every
	// check-in, fragment and profile served while it is true.
	UnknownFields atomic.Bool

	opts  Options
	types []string

	mu        sync.RWMutex
	users     []*user
	byID      map[string]*user
	now       int64 // the clock, UNIX ms
	advances  int64
	tokens    map[string]token  // access token -> holder
	refresh   map[string]string // refresh token -> user id
	codes     map[string]string // authorization code -> user id
	gen       int64             // tokens issued so far
	authorize string            // user the authorize endpoint logs in
	unknown   []string          // requests to routes the API does not have
	log       []string          // API requests (method, path and query), capped
	counts    map[string]int64  // requests per route
	hooks     []Delivery

	handler http.Handler
	hc      *http.Client
	ts      *httptest.Server
	srv     *http.Server
	url     string
	bufs    sync.Pool
}

type token struct {
	user    string
	expires int64 // UNIX ms on the emulator's clock; 0: never
}

// Delivery is one webhook POST the emulator made.
type Delivery struct {
	User   string
	URL    string
	Status int   // 0 when the request failed
	Err    error // nil when the callback answered (any status)
}

// maxLog bounds the request log.
const maxLog = 100_000

// New builds an emulator with its initial data; it does not listen. Serve it
// with Start, NewServer or any http.Server.
func New(opts Options) *Server {
	opts = opts.withDefaults()
	s := &Server{
		opts:    opts,
		types:   slices.Clone(opts.Types),
		byID:    map[string]*user{},
		now:     opts.Start.UnixMilli(),
		tokens:  map[string]token{},
		refresh: map[string]string{},
		codes:   map[string]string{},
		counts:  map[string]int64{},
		hc:      &http.Client{Timeout: 10 * time.Second},
	}
	if opts.UnknownType != "" && !slices.Contains(s.types, opts.UnknownType) {
		s.types = append(s.types, opts.UnknownType)
	}
	s.generate()
	for _, u := range s.users {
		s.issue(u.id)
	}
	s.authorize = s.users[0].id
	s.handler = s.routes()
	return s
}

// TB is the part of testing.TB that NewServer uses.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
}

// NewServer starts an emulator on a loopback port for the length of a test. At
// cleanup it stops the server and fails the test if any request named a route
// the API does not have, so a source calling a wrong path fails loudly.
func NewServer(t TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	s.ts = httptest.NewServer(s)
	s.url = s.ts.URL
	t.Cleanup(func() {
		s.Close()
		if u := s.UnknownRequests(); len(u) > 0 {
			t.Errorf("azumiotest: requests to routes the API does not have: %q", u)
		}
	})
	return s
}

// Start serves the emulator on addr (e.g. "127.0.0.1:0") until Close.
func (s *Server) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("azumiotest: %w", err)
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.url = "http://" + ln.Addr().String()
	go s.srv.Serve(ln)
	return nil
}

// URL is the base URL of a started emulator, e.g. http://127.0.0.1:41235.
func (s *Server) URL() string { return s.url }

// Close stops a started emulator and drops its idle connections.
func (s *Server) Close() error {
	if s.ts != nil {
		s.ts.CloseClientConnections()
		s.ts.Close()
	}
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return s.srv.Shutdown(ctx)
	}
	return nil
}

// ClientID returns the API client id the emulator accepts, and ClientSecret its
// secret.
func (s *Server) ClientID() string     { return s.opts.ClientID }
func (s *Server) ClientSecret() string { return s.opts.ClientSecret }

// Users returns the user ids, in order.
func (s *Server) Users() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, len(s.users))
	for i, u := range s.users {
		out[i] = u.id
	}
	return out
}

// Token is an OAuth token as /api2/token answers it.
type Token struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ExpiresIn    int64  `json:"expires_in,omitempty"`
}

// issue makes a new access and refresh token for user; the caller holds mu or
// has not shared s yet.
func (s *Server) issue(userID string) Token {
	s.gen++
	h := s.hash(saltToken, s.gen, int64(len(userID)), 0)
	t := Token{
		AccessToken:  fmt.Sprintf("at-%s-%d-%016x", userID, s.gen, h),
		RefreshToken: fmt.Sprintf("rt-%s-%d-%016x", userID, s.gen, splitmix64(h)),
		TokenType:    "OAuth",
	}
	var exp int64
	if s.opts.TokenTTL > 0 {
		exp = s.now + s.opts.TokenTTL.Milliseconds()
		t.ExpiresIn = int64(s.opts.TokenTTL / time.Second)
	}
	s.tokens[t.AccessToken] = token{user: userID, expires: exp}
	s.refresh[t.RefreshToken] = userID
	return t
}

// Tokens returns the newest valid token of every user, by user id.
func (s *Server) Tokens() map[string]Token {
	s.mu.RLock()
	defer s.mu.RUnlock()
	best := map[string]string{}
	for tok, h := range s.tokens {
		if old, ok := best[h.user]; !ok || tokenGen(tok) > tokenGen(old) {
			best[h.user] = tok
		}
	}
	out := map[string]Token{}
	for user, tok := range best {
		t := Token{AccessToken: tok, TokenType: "OAuth"}
		for rt, u := range s.refresh {
			if u == user && tokenGen(rt) == tokenGen(tok) {
				t.RefreshToken = rt
			}
		}
		if exp := s.tokens[tok].expires; exp > 0 {
			t.ExpiresIn = max(0, (exp-s.now)/1000)
		}
		out[user] = t
	}
	return out
}

// tokenGen extracts the issue number from a token "at-USER-GEN-HASH".
func tokenGen(tok string) int64 {
	parts := strings.Split(tok, "-")
	if len(parts) < 4 {
		return 0
	}
	n, _ := strconv.ParseInt(parts[2], 10, 64)
	return n
}

// Revoke invalidates every access and refresh token of user.
func (s *Server) Revoke(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, h := range s.tokens {
		if h.user == userID {
			delete(s.tokens, tok)
		}
	}
	for rt, u := range s.refresh {
		if u == userID {
			delete(s.refresh, rt)
		}
	}
}

// WriteTokens writes a ready tokens file for the azumio source: every user's
// newest token, as {"users": {"10001": {"access_token": ..., "token_type":
// "OAuth", "refresh_token": ...}}}, created with mode 0600.
func (s *Server) WriteTokens(path string) error {
	type entry struct {
		AccessToken  string    `json:"access_token"`
		TokenType    string    `json:"token_type"`
		RefreshToken string    `json:"refresh_token,omitempty"`
		Expiry       time.Time `json:"expiry,omitzero"`
	}
	users := map[string]entry{}
	for u, t := range s.Tokens() {
		e := entry{AccessToken: t.AccessToken, TokenType: t.TokenType, RefreshToken: t.RefreshToken}
		if t.ExpiresIn > 0 {
			e.Expiry = time.Now().Add(time.Duration(t.ExpiresIn) * time.Second).UTC().Round(time.Second)
		}
		users[u] = e
	}
	raw, err := json.MarshalIndent(map[string]any{"users": users}, "", "  ")
	if err != nil {
		return fmt.Errorf("azumiotest: tokens: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("azumiotest: tokens: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("azumiotest: tokens: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("azumiotest: tokens: %w", err)
	}
	return nil
}

// SetAuthorizeUser makes /api2/authorize log in user id (default: the first user).
func (s *Server) SetAuthorizeUser(id string) {
	s.mu.Lock()
	s.authorize = id
	s.mu.Unlock()
}

// Now returns the emulator's clock.
func (s *Server) Now() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return time.UnixMilli(s.now).UTC()
}

// UnknownRequests returns the requests that named a route the API does not have.
func (s *Server) UnknownRequests() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.unknown)
}

// RequestLog returns the API requests served so far (method, path and query, in
// order; at most the first 100,000).
func (s *Server) RequestLog() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.log)
}

// Requests returns how many requests reached route: "checkins", "fragment",
// "profile", "subscriptions", "authorize" or "token".
func (s *Server) Requests(route string) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.counts[route]
}

// Deliveries returns the webhook POSTs made so far, in order.
func (s *Server) Deliveries() []Delivery {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.hooks)
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// take decrements a fault counter that is above zero and reports whether it did.
func take(c *atomic.Int64) bool {
	for {
		v := c.Load()
		if v <= 0 {
			return false
		}
		if c.CompareAndSwap(v, v-1) {
			return true
		}
	}
}

// apiError writes the API's error envelope.
func apiError(w http.ResponseWriter, code int, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b := append([]byte(`{"error":{"errorDetail":`), appendString(nil, detail)...)
	b = append(b, `,"code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	w.Write(append(b, "}}"...))
}

var errNoToken = errors.New("no token")

// authenticate checks the client id and the token and returns the user id. It
// takes the token from the Authorization header ("OAuth <token>") or from the
// _headers (or _header) query parameter, a JSON object whose "Authentication"
// (or "Authorization") member holds "OAuth <token>".
func (s *Server) authenticate(r *http.Request) (string, int, string) {
	if got := r.Header.Get("X-Client-ID"); got != s.opts.ClientID {
		if got == "" {
			return "", http.StatusUnauthorized, "com.azumio.hci.AuthorizationException: missing X-Client-ID header"
		}
		return "", http.StatusUnauthorized, "com.azumio.hci.AuthorizationException: unknown client " + strconv.Quote(got)
	}
	cred := r.Header.Get("Authorization")
	if cred == "" {
		for _, p := range []string{"_headers", "_header"} {
			if raw := r.URL.Query().Get(p); raw != "" {
				var h map[string]string
				if err := json.Unmarshal([]byte(raw), &h); err != nil {
					return "", http.StatusBadRequest, "com.azumio.hci.BadRequestException: " + p + " is not a JSON object"
				}
				cred = h["Authentication"]
				if cred == "" {
					cred = h["Authorization"]
				}
			}
		}
	}
	scheme, tok, _ := strings.Cut(cred, " ")
	switch {
	case cred == "":
		return "", http.StatusUnauthorized, "com.azumio.hci.AuthorizationException: User not authenticated"
	case scheme != "OAuth":
		return "", http.StatusUnauthorized, fmt.Sprintf("com.azumio.hci.AuthorizationException: unsupported authorization scheme %q (want OAuth)", scheme)
	}
	s.mu.RLock()
	h, ok := s.tokens[tok]
	now := s.now
	s.mu.RUnlock()
	switch {
	case !ok:
		return "", http.StatusUnauthorized, "com.azumio.hci.AuthorizationException: User not authenticated"
	case h.expires > 0 && now >= h.expires:
		return "", http.StatusUnauthorized, "com.azumio.hci.AuthorizationException: Token expired"
	}
	return h.user, 0, ""
}

// truncating buffers an answer so that it can be cut in half.
type truncating struct {
	http.ResponseWriter
	status int
	buf    []byte
}

func (t *truncating) WriteHeader(code int)        { t.status = code }
func (t *truncating) Write(b []byte) (int, error) { t.buf = append(t.buf, b...); return len(b), nil }

// api wraps an API route: it counts and logs the request, applies the fault
// knobs, authenticates, and calls h with the user id.
func (s *Server) api(route string, h func(w http.ResponseWriter, r *http.Request, user string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.counts[route]++
		if len(s.log) < maxLog {
			s.log = append(s.log, r.Method+" "+r.URL.RequestURI())
		}
		s.mu.Unlock()
		switch {
		case take(&s.Slow):
			d := time.Duration(s.SlowDelay.Load())
			if d <= 0 {
				d = time.Second
			}
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		case take(&s.Drop):
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler) // HTTP/2: abort the stream
		case take(&s.Fail401):
			apiError(w, http.StatusUnauthorized, "com.azumio.hci.AuthorizationException: User not authenticated")
			return
		case take(&s.Fail429):
			secs := s.RetryAfter.Load()
			if secs <= 0 {
				secs = 1
			}
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
			apiError(w, http.StatusTooManyRequests, "com.azumio.hci.RateLimitException: too many requests")
			return
		case take(&s.Fail500):
			apiError(w, http.StatusInternalServerError, "com.azumio.hci.InternalException: internal error")
			return
		case take(&s.Fail503):
			apiError(w, http.StatusServiceUnavailable, "com.azumio.hci.UnavailableException: service unavailable")
			return
		case take(&s.Truncate):
			orig := w
			tw := &truncating{ResponseWriter: w, status: http.StatusOK}
			defer func() {
				orig.Header().Del("Content-Length")
				orig.WriteHeader(tw.status)
				orig.Write(tw.buf[:len(tw.buf)/2])
			}()
			w = tw
		}
		userID, code, detail := s.authenticate(r)
		if code != 0 {
			apiError(w, code, detail)
			return
		}
		h(w, r, userID)
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api2/checkins", s.api("checkins", s.serveCheckins))
	mux.HandleFunc("GET /api2/checkins/{id}/fragments/{name}", s.api("fragment", s.serveFragment))
	mux.HandleFunc("GET /api2/users/me", s.api("profile", s.serveProfile))
	mux.HandleFunc("GET /api2/subscriptions", s.api("subscriptions", s.serveSubscriptions))
	mux.HandleFunc("POST /api2/subscriptions", s.api("subscriptions", s.subscribe))
	mux.HandleFunc("DELETE /api2/subscriptions", s.api("subscriptions", s.unsubscribe))
	mux.HandleFunc("GET /api2/authorize", s.serveAuthorize)
	mux.HandleFunc("GET /api2/token", s.serveToken)
	mux.HandleFunc("POST /api2/token", s.serveToken)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.unknown = append(s.unknown, r.Method+" "+r.URL.Path)
		s.mu.Unlock()
		apiError(w, http.StatusNotFound, "com.azumio.hci.NotFoundException: no route "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// getBuf returns a reusable answer buffer.
func (s *Server) getBuf() *[]byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	b := make([]byte, 0, 64<<10)
	return &b
}

func writeJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// Limits of GET /api2/checkins.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

func (s *Server) serveCheckins(w http.ResponseWriter, r *http.Request, userID string) {
	q := r.URL.Query()
	var since int64
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			apiError(w, http.StatusBadRequest, "com.azumio.hci.BadRequestException: since must be UNIX milliseconds, got "+strconv.Quote(v))
			return
		}
		since = n
	}
	limit := DefaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			apiError(w, http.StatusBadRequest, fmt.Sprintf("com.azumio.hci.BadRequestException: limit must be between 1 and %d, got %q", MaxLimit, v))
			return
		}
		limit = n
	}
	var want []bool // by type index; nil: every type
	if v := q.Get("type"); v != "" {
		want = make([]bool, len(s.types))
		for _, t := range strings.Split(v, ",") {
			if i := slices.Index(s.types, strings.TrimSpace(t)); i >= 0 {
				want[i] = true
			}
		}
	}
	unknownFields := s.UnknownFields.Load()

	s.mu.RLock()
	u := s.byID[userID]
	page := make([]record, 0, min(limit, 1024))
	more := false
	for i := u.since(since); i < len(u.recs); i++ {
		r := &u.recs[i]
		if want != nil && !want[r.typ] {
			continue
		}
		if len(page) == limit {
			more = true
			break
		}
		page = append(page, *r)
	}
	s.mu.RUnlock()

	bp := s.getBuf()
	b := append(*bp, `{"hasMore":`...)
	b = strconv.AppendBool(b, more)
	b = append(b, `,"checkins":[`...)
	for i := range page {
		if i > 0 {
			b = append(b, ',')
		}
		b = s.appendCheckin(b, u, &page[i], unknownFields)
	}
	b = append(b, "]}"...)
	writeJSON(w, b)
	*bp = b
	s.bufs.Put(bp)
}

func (s *Server) serveFragment(w http.ResponseWriter, r *http.Request, userID string) {
	id, name := r.PathValue("id"), r.PathValue("name")
	ui, n, ok := parseID(id)
	s.mu.RLock()
	u := s.byID[userID]
	var rec record
	found := false
	if ok && ui == u.index {
		if i := u.find(n); i >= 0 {
			rec, found = u.recs[i], true
		}
	}
	s.mu.RUnlock()
	if !found {
		apiError(w, http.StatusNotFound, "com.azumio.hci.NotFoundException: no check-in "+strconv.Quote(id))
		return
	}
	b, ok := s.appendFragment(nil, u, &rec, name, s.UnknownFields.Load())
	if !ok {
		apiError(w, http.StatusNotFound, fmt.Sprintf("com.azumio.hci.NotFoundException: check-in %s has no fragment %q", id, name))
		return
	}
	writeJSON(w, b)
}

func (s *Server) serveProfile(w http.ResponseWriter, r *http.Request, userID string) {
	s.mu.RLock()
	u := s.byID[userID]
	s.mu.RUnlock()
	writeJSON(w, s.appendProfile(nil, u, s.UnknownFields.Load()))
}
