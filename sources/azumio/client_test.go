package azumio_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sources/azumio"
	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

func TestFullPageAtOneInstantStopsOnlyThatUser(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 2, Users: 2, Checkins: 40, SameModified: 30})
	cfg := testConfig(t, srv)
	cfg.API.PageSize, cfg.API.MaxPageSize = 5, 20
	cfg.Users = []string{"10001"}
	src := newSource(t, cfg)
	_, errs := readUnits(t, src, nil)
	err := errs["user/10001"]
	if err == nil {
		t.Fatal("got no error, want one naming the cursor")
	}
	modified := srv.Checkins("10001")[0].Modified
	for _, want := range []string{"user 10001", "more than 20 check-ins", "since=" + itoa(modified), "api.max_page_size"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q: want it to contain %q", err, want)
		}
	}
	if errors.Is(err, core.ErrTransient) {
		t.Errorf("error %v: want a permanent error (retrying cannot help)", err)
	}
	// It widened the page up to the limit before giving up, and never spun.
	var limits []string
	for _, l := range srv.RequestLog() {
		if i := strings.Index(l, "limit="); i >= 0 {
			limits = append(limits, strings.SplitN(l[i:], "&", 2)[0])
		}
	}
	// (The first page, from since=0, moves the cursor to the shared instant.)
	if got := strings.Join(limits, " "); got != "limit=5 limit=5 limit=10 limit=20" {
		t.Errorf("requests: got %s, want limit=5 (from 0), then limit=5, 10 and 20 at the instant", got)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestArchiveAndReplay(t *testing.T) {
	for _, comp := range []string{"gzip", "zstd", "none"} {
		t.Run(comp, func(t *testing.T) { testArchiveAndReplay(t, comp) })
	}
}

func testArchiveAndReplay(t *testing.T, comp string) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 6, Users: 2, Checkins: 45})
	cfg := testConfig(t, srv)
	cfg.API.PageSize = 8
	cfg.Archive = filepath.Join(t.TempDir(), "archive")
	cfg.ArchiveCompression = comp
	src := newSource(t, cfg)
	live, errs := readUnits(t, src, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	// A second run after changes appends to the archive; replay then sees the
	// newest answer to each request.
	srv.Advance(time.Hour, azumiotest.Changes{New: 2, Edited: 1})
	live2, errs := readUnits(t, src, live.last)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	ext := map[string]string{"gzip": ".jsonl.gz", "zstd": ".jsonl.zst", "none": ".jsonl"}[comp]
	files, _ := filepath.Glob(filepath.Join(cfg.Archive, "user=10001", "*"+ext))
	if len(files) != 2 {
		t.Errorf("archive: got %d files for user 10001, want 2 (one per read)", len(files))
	}

	replay := azumio.DefaultConfig()
	replay.Replay = cfg.Archive
	replay.API.PageSize = 8
	rsrc := newSource(t, replay)
	units, err := rsrc.Units(context.Background())
	if err != nil || strings.Join(units, ",") != "user/10001,user/10002" {
		t.Fatalf("replay units: got %v %v", units, err)
	}
	got, errs := readUnits(t, rsrc, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	// From scratch, the replay reads what the first run read and goes on with
	// what the second one read: both runs' rows.
	checkVersions(t, "replay", got.versions(), append(live.versions(), live2.versions()...))
	if a, b := len(got.rows("azumio.fragments.")), len(live.rows("azumio.fragments."))+len(live2.rows("azumio.fragments.")); a != b {
		t.Errorf("replay: got %d fragment rows, want the runs' %d", a, b)
	}

	// A request the archive does not hold fails the unit and says so.
	replay.API.PageSize = 9
	other := newSource(t, replay)
	_, errs = readUnits(t, other, nil)
	if err := errs["user/10001"]; err == nil || !strings.Contains(err.Error(), "not in the archive") || !strings.Contains(err.Error(), "limit=9") {
		t.Errorf("replay with another page size: got %v, want an error naming the missing request", err)
	}
}

func TestReplayOfACutArchive(t *testing.T) {
	for _, comp := range []string{"zstd", "none"} {
		t.Run(comp, func(t *testing.T) {
			srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 6, Users: 1, Checkins: 60, NoFragments: true})
			cfg := testConfig(t, srv)
			cfg.API.PageSize = 10
			cfg.Archive = filepath.Join(t.TempDir(), "archive")
			cfg.ArchiveCompression = comp
			if _, errs := readUnits(t, newSource(t, cfg), nil); len(errs) > 0 {
				t.Fatal(errs)
			}
			files, _ := filepath.Glob(filepath.Join(cfg.Archive, "user=10001", "*.jsonl*"))
			if len(files) != 1 {
				t.Fatalf("got %d archive files, want 1", len(files))
			}
			// A crash while archiving leaves a cut file: the replay reads the
			// whole lines and says which request it has no answer for.
			st, _ := os.Stat(files[0])
			if err := os.Truncate(files[0], st.Size()/2); err != nil {
				t.Fatal(err)
			}
			replay := azumio.DefaultConfig()
			replay.Replay = cfg.Archive
			replay.API.PageSize = 10
			res, errs := readUnits(t, newSource(t, replay), nil)
			err := errs["user/10001"]
			if err == nil || !strings.Contains(err.Error(), "not in the archive") {
				t.Fatalf("got %v, want an error naming the request the cut archive lacks", err)
			}
			if n := len(res.versions()); n == 0 || n >= 60 {
				t.Errorf("got %d check-ins from the cut archive, want some but not all", n)
			}
		})
	}
}

func TestTokenInQuery(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 1, Users: 1, Checkins: 10})
	cfg := testConfig(t, srv)
	cfg.TokenIn = "query"
	src := newSource(t, cfg)
	res, errs := readUnits(t, src, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	checkVersions(t, "token in _headers", res.versions(), refVersions(allRefs(srv)))
	for _, l := range srv.RequestLog() {
		if !strings.Contains(l, "_headers=") {
			t.Fatalf("request %s: want the token in _headers", l)
		}
	}
}

func TestRetriesRunOutAsATransientErrorWithTheWait(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 1, Users: 1, Checkins: 10})
	cfg := testConfig(t, srv)
	cfg.Retry.Tries = 2
	srv.Fail429.Store(2)
	srv.RetryAfter.Store(1)
	src := newSource(t, cfg)
	start := time.Now()
	_, errs := readUnits(t, src, nil)
	err := errs["user/10001"]
	wait, transient := core.RetryAfter(err)
	if !transient || wait != time.Second {
		t.Errorf("got %v (transient %v, wait %s), want a transient error asking for 1s", err, transient, wait)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("took %s, want the 1s Retry-After honoured between the two tries", took)
	}
	if err != nil && (!strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "/api2/users/me")) {
		t.Errorf("error %q: want the status and the URL", err)
	}
}

func TestRateLimitIsSharedByAllUsers(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 1, Users: 3, Checkins: 4, NoFragments: true})
	cfg := testConfig(t, srv)
	cfg.RequestsPerSecond, cfg.Burst = 20, 1
	src := newSource(t, cfg)
	start := time.Now()
	ctx := context.Background()
	units, _ := src.Units(ctx)
	done := make(chan error, len(units))
	for _, u := range units {
		go func() {
			done <- src.Read(ctx, u, nil, func(_ context.Context, b core.Batch) error { b.Release(); return nil })
		}()
	}
	for range units {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// 3 users × (profile + 1 page) = 6 requests at 20/s with a burst of 1.
	if took, want := time.Since(start), 5*50*time.Millisecond; took < want {
		t.Errorf("6 requests took %s, want at least %s at 20 requests/s", took, want)
	}
}

func TestTokensFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.json")
	if _, err := azumio.OpenTokens(path); err == nil || !strings.Contains(err.Error(), "etl auth azumio") {
		t.Errorf("missing file: got %v, want an error saying how to create it", err)
	}
	a := azumio.NewTokens(path)
	if err := a.Put("1", &oauth2.Token{AccessToken: "a1", RefreshToken: "r1"}); err != nil {
		t.Fatal(err)
	}
	// Another process adds a user meanwhile; a's next write keeps it.
	b, err := azumio.OpenTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put("2", &oauth2.Token{AccessToken: "b2"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Put("1", &oauth2.Token{AccessToken: "a1-rotated", RefreshToken: "r2"}); err != nil {
		t.Fatal(err)
	}
	c, err := azumio.OpenTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Users(), ","); got != "1,2" {
		t.Errorf("users: got %s, want 1,2", got)
	}
	if tok, _ := c.Get("1"); tok.AccessToken != "a1-rotated" || tok.RefreshToken != "r2" {
		t.Errorf("user 1: got %+v, want the rotated token", tok)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode: got %v, want 0600", st.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	os.WriteFile(path, []byte(`{"users": {"1": {}}}`), 0o600)
	if _, err := azumio.OpenTokens(path); err == nil || !strings.Contains(err.Error(), "no access_token") {
		t.Errorf("entry without a token: got %v", err)
	}
}

func TestConfigErrorsPointAtTheFile(t *testing.T) {
	src := `base_url: ftp://x
types: [steps, steps, "a,b"]
token_in: cookie
retry: { tries: 0 }
api:
  page_size: 2000
  fragment_path: /api2/fragments
emulator: { users: 2 }
`
	c, err := core.NewConfig("p.yaml", "source.config", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	_, err = azumio.DecodeConfig(c)
	var errs core.ConfigErrors
	if !errors.As(err, &errs) {
		t.Fatalf("got %v, want ConfigErrors", err)
	}
	want := []string{
		"p.yaml:1:11: source.config.base_url: want an http(s) URL",
		"source.config.client_id: missing",
		"source.config.tokens: missing",
		"p.yaml:2:16: source.config.types[1]: duplicate type \"steps\"",
		"p.yaml:2:23: source.config.types[2]: want a type name",
		"p.yaml:3:11: source.config.token_in: unknown value \"cookie\" (want one of: header, query)",
		"source.config.retry.tries: must be between 1 and 100",
		"source.config.api.page_size: must be between 1 and api.max_page_size (1000), got 2000",
		"source.config.api.fragment_path: must contain {id} and {name}",
		"source.config.emulator: emulator options apply only with base_url: emulator",
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("errors:\n%s\nwant one containing %q", msg, w)
		}
	}
	if len(errs) != len(want) {
		t.Errorf("got %d errors, want %d:\n%s", len(errs), len(want), msg)
	}

	// The emulator needs no credentials.
	c, _ = core.NewConfig("p.yaml", "source.config", []byte("base_url: emulator\nemulator: { users: 2, checkins: 5 }\n"))
	if cfg, err := azumio.DecodeConfig(c); err != nil || cfg.Emulator.Users != 2 || cfg.Emulator.Checkins != 5 || cfg.Emulator.Seed != 1 {
		t.Errorf("emulator config: got %+v, %v", cfg.Emulator, err)
	}
}

func TestSubscriptions(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 1, Users: 2, Checkins: 3})
	cfg := testConfig(t, srv)
	tokens, err := azumio.OpenTokens(cfg.Tokens)
	if err != nil {
		t.Fatal(err)
	}
	c, err := azumio.NewClient(cfg, tokens)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	cb := "https://hooks.example/azumio/user/10002"
	subs, err := c.Subscribe(ctx, "10002", cb, []string{"steps", "sleeptime"})
	if err != nil || len(subs) != 1 || subs[0].URL != cb || strings.Join(subs[0].Types, ",") != "steps,sleeptime" || subs[0].UserID != "10002" {
		t.Fatalf("Subscribe: got %+v, %v", subs, err)
	}
	if got, _ := srv.Subscribed("10002"); got != cb {
		t.Errorf("emulator: got callback %q, want %q", got, cb)
	}
	if subs, err := c.Subscriptions(ctx, "10001"); err != nil || len(subs) != 0 {
		t.Errorf("Subscriptions of 10001: got %+v, %v, want none", subs, err)
	}
	if err := c.Unsubscribe(ctx, "10002", "https://other.example/"); err == nil {
		t.Errorf("Unsubscribe of another URL: got no error")
	}
	if err := c.Unsubscribe(ctx, "10002", cb); err != nil {
		t.Errorf("Unsubscribe: %v", err)
	}
	if subs, err := c.Subscriptions(ctx, "10002"); err != nil || len(subs) != 0 {
		t.Errorf("after Unsubscribe: got %+v, %v", subs, err)
	}
	if _, err := c.Subscribe(ctx, "10002", "not a url", nil); err == nil {
		t.Errorf("Subscribe to a bad URL: got no error")
	}
}

func TestBrowserLoginFlow(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 1, Users: 3, Checkins: 3, TokenTTL: time.Hour})
	srv.SetAuthorizeUser("10003")
	cfg := testConfig(t, srv)
	c, err := azumio.NewClient(cfg, azumio.NewTokens(""))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	redirect := "http://127.0.0.1:1/callback"
	u, err := url.Parse(c.AuthCodeURL(redirect, "st4te"))
	if err != nil || u.Path != "/api2/authorize" || u.Query().Get("client_id") != srv.ClientID() || u.Query().Get("redirect_uri") != redirect {
		t.Fatalf("AuthCodeURL: got %v", u)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, _ := url.Parse(resp.Header.Get("Location"))
	if back.Query().Get("state") != "st4te" {
		t.Fatalf("redirect: got %s, want the state back", back)
	}
	ctx := context.Background()
	tok, err := c.Exchange(ctx, back.Query().Get("code"), redirect)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || time.Until(tok.Expiry) < 59*time.Minute {
		t.Errorf("Exchange: got %+v, want tokens expiring in an hour", tok)
	}
	tmp := azumio.NewTokens("")
	tmp.Put("me", tok)
	c2, _ := azumio.NewClient(cfg, tmp)
	defer c2.Close()
	if id, err := c2.UserID(ctx, "me"); err != nil || id != "10003" {
		t.Errorf("UserID: got %q, %v, want 10003", id, err)
	}
	if _, err := c.Exchange(ctx, "wrong", redirect); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("Exchange of a bad code: got %v", err)
	}
}

func TestCheck(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 1, Users: 2, Checkins: 3})
	cfg := testConfig(t, srv)
	ctx := context.Background()
	if err := newSource(t, cfg).Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	srv.Revoke("10001")
	if err := newSource(t, cfg).Check(ctx); err == nil || !strings.Contains(err.Error(), "user 10001") || !errors.Is(err, azumio.ErrUnauthorized) {
		t.Errorf("Check with a revoked token: got %v, want ErrUnauthorized naming the user", err)
	}
	cfg.Tokens = filepath.Join(t.TempDir(), "none.json")
	if err := newSource(t, cfg).Check(ctx); err == nil || !strings.Contains(err.Error(), "etl auth azumio") {
		t.Errorf("Check without a tokens file: got %v", err)
	}
}

// countingLimiter counts the requests it lets through.
type countingLimiter struct{ n atomic.Int64 }

func (l *countingLimiter) Wait(context.Context) error { l.n.Add(1); return nil }

func TestSourceTakesItsLimiterFromTheGivenLimiters(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 1, Users: 3, Checkins: 4, NoFragments: true})
	cfg := testConfig(t, srv)
	cfg.RequestsPerSecond, cfg.Burst = 7, 2
	lim := &countingLimiter{}
	var keys []string
	src := newSource(t, cfg, azumio.WithSourceLimiters(func(key string, perSecond float64, burst int) core.Limiter {
		if perSecond != 7 || burst != 2 {
			t.Errorf("limiter asked for %v/s burst %d, want 7/s burst 2", perSecond, burst)
		}
		keys = append(keys, key)
		return lim
	}))
	res, errs := readUnits(t, src, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	res.release()
	u, _ := url.Parse(srv.URL())
	if want := "azumio " + u.Host + " client " + srv.ClientID(); len(keys) != 1 || keys[0] != want {
		t.Errorf("budget keys: got %q, want [%q]", keys, want)
	}
	// 3 users × (profile + 1 page) = 6 requests, each through the limiter.
	if n := lim.n.Load(); n != 6 {
		t.Errorf("limiter passed %d requests, want 6", n)
	}
}
