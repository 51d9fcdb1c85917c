package azumiotest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

// call makes an API request as user with the user's current token.
func call(t *testing.T, srv *azumiotest.Server, method, user, pathQuery string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL()+pathQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Client-ID", srv.ClientID())
	if user != "" {
		req.Header.Set("Authorization", "OAuth "+srv.Tokens()[user].AccessToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, pathQuery, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, pathQuery, err)
	}
	return resp.StatusCode, resp.Header, body
}

type page struct {
	HasMore  bool             `json:"hasMore"`
	Checkins []map[string]any `json:"checkins"`
}

func getPage(t *testing.T, srv *azumiotest.Server, user, query string) page {
	t.Helper()
	code, _, body := call(t, srv, "GET", user, "/api2/checkins?"+query)
	if code != 200 {
		t.Fatalf("GET /api2/checkins?%s: got status %d (%s), want 200", query, code, body)
	}
	var p page
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("GET /api2/checkins?%s: %v\n%s", query, err, body)
	}
	return p
}

func num(v any) int64 { return int64(v.(float64)) }

func TestDeterministicFromSeed(t *testing.T) {
	a := azumiotest.NewServer(t, azumiotest.Options{Seed: 5, Users: 2, Checkins: 30})
	b := azumiotest.NewServer(t, azumiotest.Options{Seed: 5, Users: 2, Checkins: 30})
	c := azumiotest.NewServer(t, azumiotest.Options{Seed: 6, Users: 2, Checkins: 30})
	_, _, pa := call(t, a, "GET", "10002", "/api2/checkins?limit=30")
	_, _, pb := call(t, b, "GET", "10002", "/api2/checkins?limit=30")
	_, _, pc := call(t, c, "GET", "10002", "/api2/checkins?limit=30")
	if !bytes.Equal(pa, pb) {
		t.Errorf("equal seeds: got different pages")
	}
	if bytes.Equal(pa, pc) {
		t.Errorf("different seeds: got equal pages")
	}
}

func TestPagingIsSortedInclusiveAndComplete(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 1, Users: 1, Checkins: 95, SameModified: 4})
	want := srv.Checkins("10001")
	if len(want) != 95 {
		t.Fatalf("Checkins: got %d, want 95", len(want))
	}
	var got []string
	var since int64
	seen := map[string]bool{}
	for range 100 {
		p := getPage(t, srv, "10001", "limit=10&since="+strconv.FormatInt(since, 10))
		prevMod, prevID := int64(-1), ""
		for _, c := range p.Checkins {
			m, id := num(c["modified"]), c["id"].(string)
			if m < since {
				t.Fatalf("since=%d: got check-in %s with modified %d", since, id, m)
			}
			if m < prevMod || (m == prevMod && id <= prevID) {
				t.Fatalf("since=%d: check-ins not sorted by (modified, id): %d %s after %d %s", since, m, id, prevMod, prevID)
			}
			prevMod, prevID = m, id
			if !seen[id] {
				seen[id] = true
				got = append(got, id)
			}
		}
		if !p.HasMore {
			break
		}
		since = prevMod // inclusive: the next page repeats this instant
	}
	if len(got) != len(want) {
		t.Fatalf("got %d distinct check-ins, want %d", len(got), len(want))
	}
	for i, r := range want {
		if got[i] != r.ID {
			t.Fatalf("check-in %d: got %s, want %s", i, got[i], r.ID)
		}
	}
	// The first four share one modified.
	for i := 1; i < 4; i++ {
		if want[i].Modified != want[0].Modified {
			t.Errorf("SameModified: check-in %d: got modified %d, want %d", i, want[i].Modified, want[0].Modified)
		}
	}
}

func TestTypeFilterAndLimits(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 2, Users: 1, Checkins: 120})
	p := getPage(t, srv, "10001", "type=steps,heartrate&limit=1000")
	if len(p.Checkins) == 0 || p.HasMore {
		t.Fatalf("got %d check-ins, hasMore %v; want some and no more", len(p.Checkins), p.HasMore)
	}
	for _, c := range p.Checkins {
		if typ := c["type"]; typ != "steps" && typ != "heartrate" {
			t.Errorf("type=steps,heartrate: got a %v check-in", typ)
		}
	}
	if n := len(getPage(t, srv, "10001", "").Checkins); n != azumiotest.DefaultLimit {
		t.Errorf("no limit: got %d check-ins, want the default %d", n, azumiotest.DefaultLimit)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "since=yesterday"} {
		code, _, body := call(t, srv, "GET", "10001", "/api2/checkins?"+q)
		if code != 400 || !strings.Contains(string(body), `"code":400`) {
			t.Errorf("%s: got %d %s, want 400 in the error envelope", q, code, body)
		}
	}
}

func TestStepsCheckinHasTheDocumentedFields(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 3, Users: 1, Checkins: 40})
	p := getPage(t, srv, "10001", "type=steps&limit=1")
	if len(p.Checkins) != 1 {
		t.Fatalf("got %d steps check-ins, want 1", len(p.Checkins))
	}
	c := p.Checkins[0]
	for _, k := range []string{"remoteid", "id", "version", "type", "user_id", "client_id", "timestamp", "created",
		"modified", "start", "end", "timezone", "live", "privacy", "privacy_groups", "value", "steps", "distance",
		"activeDuration", "calories", "walkCalories", "basalCalories", "#steps_profile"} {
		if _, ok := c[k]; !ok {
			t.Errorf("steps check-in: missing %q in %v", k, c)
		}
	}
	if c["user_id"] != "10001" {
		t.Errorf("user_id: got %v, want 10001", c["user_id"])
	}
	if num(c["start"]) > num(c["end"]) || num(c["end"]) >= num(c["timestamp"]) || num(c["timestamp"]) > num(c["modified"]) {
		t.Errorf("times out of order: start %v end %v timestamp %v modified %v", c["start"], c["end"], c["timestamp"], c["modified"])
	}

	// Its fragment: per-minute steps from the check-in's start.
	frag := int64(c["#steps_profile"].(float64))
	if frag <= 0 {
		t.Errorf("#steps_profile: got %d, want a fragment id", frag)
	}
	code, _, body := call(t, srv, "GET", "10001", "/api2/checkins/"+c["id"].(string)+"/fragments/steps_profile")
	if code != 200 {
		t.Fatalf("fragment: got %d %s", code, body)
	}
	var f struct {
		Interval int64   `json:"interval"`
		Start    int64   `json:"start"`
		Values   []int64 `json:"values"`
	}
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatal(err)
	}
	wantN := min((num(c["end"])-num(c["start"]))/60_000, 1440)
	if f.Interval != 60 || f.Start != num(c["start"]) || int64(len(f.Values)) != wantN {
		t.Errorf("fragment: got interval %d start %d with %d values, want 60, %v, %d", f.Interval, f.Start, len(f.Values), c["start"], wantN)
	}
	// No such fragment, no such check-in: 404 in the envelope.
	for _, p := range []string{"/api2/checkins/" + c["id"].(string) + "/fragments/path", "/api2/checkins/999/fragments/steps_profile"} {
		if code, _, body := call(t, srv, "GET", "10001", p); code != 404 || !strings.Contains(string(body), "errorDetail") {
			t.Errorf("GET %s: got %d %s, want 404", p, code, body)
		}
	}
}

func TestAuthentication(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Users: 2, Checkins: 3})
	tok := srv.Tokens()["10002"].AccessToken
	hdr := url.QueryEscape(`{"Authentication":"OAuth ` + tok + `"}`)
	tests := []struct {
		name       string
		clientID   string
		auth       string
		query      string
		wantStatus int
		wantDetail string
	}{
		{"header", srv.ClientID(), "OAuth " + tok, "", 200, ""},
		{"_headers parameter", srv.ClientID(), "", "?_headers=" + hdr, 200, ""},
		{"_header parameter", srv.ClientID(), "", "?_header=" + hdr, 200, ""},
		{"no client id", "", "OAuth " + tok, "", 401, "X-Client-ID"},
		{"wrong client id", "someone.else", "OAuth " + tok, "", 401, "unknown client"},
		{"no token", srv.ClientID(), "", "", 401, "User not authenticated"},
		{"bad token", srv.ClientID(), "OAuth nope", "", 401, "User not authenticated"},
		{"bearer scheme", srv.ClientID(), "Bearer " + tok, "", 401, "want OAuth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL()+"/api2/users/me"+tt.query, nil)
			if tt.clientID != "" {
				req.Header.Set("X-Client-ID", tt.clientID)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("got status %d (%s), want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if tt.wantStatus == 200 {
				var prof map[string]any
				if err := json.Unmarshal(body, &prof); err != nil || prof["id"] != "10002" {
					t.Errorf("profile: got %s, want user 10002", body)
				}
				return
			}
			var env struct {
				Error struct {
					ErrorDetail string `json:"errorDetail"`
					Code        int    `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &env); err != nil || env.Error.Code != tt.wantStatus || !strings.Contains(env.Error.ErrorDetail, tt.wantDetail) {
				t.Errorf("got body %s, want the error envelope with code %d and a detail containing %q", body, tt.wantStatus, tt.wantDetail)
			}
		})
	}
}

func TestFaultKnobs(t *testing.T) {
	tests := []struct {
		name  string
		set   func(s *azumiotest.Server)
		check func(t *testing.T, status int, h http.Header, body []byte, err error)
	}{
		{"429 with Retry-After", func(s *azumiotest.Server) { s.Fail429.Store(1); s.RetryAfter.Store(7) },
			func(t *testing.T, status int, h http.Header, body []byte, err error) {
				if status != 429 || h.Get("Retry-After") != "7" {
					t.Errorf("got %d Retry-After %q, want 429 and 7", status, h.Get("Retry-After"))
				}
			}},
		{"401", func(s *azumiotest.Server) { s.Fail401.Store(1) }, wantStatus(401)},
		{"500", func(s *azumiotest.Server) { s.Fail500.Store(1) }, wantStatus(500)},
		{"503", func(s *azumiotest.Server) { s.Fail503.Store(1) }, wantStatus(503)},
		{"dropped connection", func(s *azumiotest.Server) { s.Drop.Store(1) },
			func(t *testing.T, status int, h http.Header, body []byte, err error) {
				if err == nil {
					t.Errorf("got status %d, want a transport error", status)
				}
			}},
		{"truncated body", func(s *azumiotest.Server) { s.Truncate.Store(1) },
			func(t *testing.T, status int, h http.Header, body []byte, err error) {
				var p page
				if status != 200 || err != nil || json.Unmarshal(body, &p) == nil || len(body) < 10 {
					t.Errorf("got status %d, err %v, body %q; want 200 with cut JSON", status, err, body)
				}
			}},
		{"slow answer", func(s *azumiotest.Server) { s.Slow.Store(1); s.SlowDelay.Store(int64(150 * time.Millisecond)) },
			func(t *testing.T, status int, h http.Header, body []byte, err error) {
				if status != 200 {
					t.Errorf("got status %d, want 200", status)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := azumiotest.NewServer(t, azumiotest.Options{Users: 1, Checkins: 20})
			tt.set(srv)
			do := func() (int, http.Header, []byte, time.Duration, error) {
				req, _ := http.NewRequest("GET", srv.URL()+"/api2/checkins", nil)
				req.Header.Set("X-Client-ID", srv.ClientID())
				req.Header.Set("Authorization", "OAuth "+srv.Tokens()["10001"].AccessToken)
				start := time.Now()
				// A fresh transport each time, so a dropped connection is not
				// retried behind our back on a pooled one.
				resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
				if err != nil {
					return 0, nil, nil, time.Since(start), err
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				return resp.StatusCode, resp.Header, body, time.Since(start), err
			}
			status, h, body, took, err := do()
			tt.check(t, status, h, body, err)
			if tt.name == "slow answer" && took < 150*time.Millisecond {
				t.Errorf("slow answer: took %s, want at least 150ms", took)
			}
			// Each knob counts down: the next request is served normally.
			status, _, body, _, err = do()
			var p page
			if err != nil || status != 200 || json.Unmarshal(body, &p) != nil || len(p.Checkins) != 20 {
				t.Errorf("next request: got %d %v, want 200 with 20 check-ins", status, err)
			}
		})
	}
}

func wantStatus(want int) func(t *testing.T, status int, h http.Header, body []byte, err error) {
	return func(t *testing.T, status int, h http.Header, body []byte, err error) {
		if status != want || !strings.Contains(string(body), `"errorDetail"`) {
			t.Errorf("got %d %s, want %d in the error envelope", status, body, want)
		}
	}
}

func TestUnknownFieldsAndTypes(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 4, Users: 1, Checkins: 60, UnknownType: "meditation"})
	p := getPage(t, srv, "10001", "limit=1000")
	types := map[string]bool{}
	for _, c := range p.Checkins {
		types[c["type"].(string)] = true
		if _, ok := c["device"]; ok {
			t.Fatalf("UnknownFields off: got a device field")
		}
	}
	if !types["meditation"] {
		t.Errorf("UnknownType: got types %v, want meditation among them", types)
	}
	srv.UnknownFields.Store(true)
	p = getPage(t, srv, "10001", "limit=1")
	if _, ok := p.Checkins[0]["device"].(map[string]any); !ok {
		t.Errorf("UnknownFields on: got %v, want a device object", p.Checkins[0])
	}
}

func TestAdvanceEditsDeletesAndAdds(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 9, Users: 2, Checkins: 30})
	before := map[string]int64{}
	var last int64
	for _, r := range srv.Checkins("10001") {
		before[r.ID] = r.Version
		last = max(last, r.Modified)
	}
	changes := srv.Advance(time.Hour, azumiotest.Changes{New: 2, Edited: 3, Deleted: 1})
	if len(changes) != 2*6 {
		t.Fatalf("Advance: got %d changes, want 12", len(changes))
	}
	now := srv.Now().UnixMilli()
	var edited, deleted, added int
	for _, c := range changes {
		if c.Modified != now {
			t.Errorf("change %s: got modified %d, want the clock %d", c.ID, c.Modified, now)
		}
		if c.User != "10001" {
			continue
		}
		old, existed := before[c.ID]
		switch {
		case !existed:
			added++
		case c.Deleted:
			deleted++
		default:
			edited++
		}
		if existed && c.Version <= old {
			t.Errorf("change %s: got version %d, want more than %d", c.ID, c.Version, old)
		}
	}
	if edited != 3 || deleted != 1 || added != 2 {
		t.Errorf("user 10001: got %d edited, %d deleted, %d added; want 3, 1, 2", edited, deleted, added)
	}
	// An incremental read from after the old data sees exactly the changes.
	p := getPage(t, srv, "10001", "limit=1000&since="+strconv.FormatInt(last+1, 10))
	if len(p.Checkins) != 6 {
		t.Fatalf("since after the initial data: got %d check-ins, want the 6 changes", len(p.Checkins))
	}
	for _, c := range p.Checkins {
		if c["deleted"] == true {
			if _, ok := c["steps"]; ok {
				t.Errorf("tombstone %v: want only identity, times and deleted", c)
			}
		}
	}
	if got := len(srv.Checkins("10001")); got != 32 {
		t.Errorf("after Advance: got %d check-ins, want 32 (30 + 2 new; tombstones stay)", got)
	}
}

func TestOAuthFlowAndRefreshRotation(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Users: 2, Checkins: 1, TokenTTL: time.Hour})
	srv.SetAuthorizeUser("10002")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"client_id": {srv.ClientID()}, "redirect_uri": {"http://127.0.0.1:9/callback"}, "state": {"xyz"}}
	resp, err := noRedirect.Get(srv.URL() + "/api2/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Query().Get("state") != "xyz" || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: got %d Location %q, want a redirect with code and state", resp.StatusCode, resp.Header.Get("Location"))
	}
	exchange := func(method string, form url.Values) (azumiotest.Token, int) {
		form.Set("client_id", srv.ClientID())
		form.Set("client_secret", srv.ClientSecret())
		var resp *http.Response
		var err error
		if method == "GET" {
			resp, err = http.Get(srv.URL() + "/api2/token?" + form.Encode())
		} else {
			resp, err = http.PostForm(srv.URL()+"/api2/token", form)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tok azumiotest.Token
		json.NewDecoder(resp.Body).Decode(&tok)
		return tok, resp.StatusCode
	}
	code := loc.Query().Get("code")
	tok, status := exchange("GET", url.Values{"grant_type": {"authorization_code"}, "code": {code}})
	if status != 200 || tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "OAuth" || tok.ExpiresIn != 3600 {
		t.Fatalf("token: got %d %+v, want 200 with access and refresh tokens, type OAuth, expires_in 3600", status, tok)
	}
	if _, status := exchange("GET", url.Values{"grant_type": {"authorization_code"}, "code": {code}}); status != 400 {
		t.Errorf("reused code: got %d, want 400", status)
	}
	me := func(access string) int {
		req, _ := http.NewRequest("GET", srv.URL()+"/api2/users/me", nil)
		req.Header.Set("X-Client-ID", srv.ClientID())
		req.Header.Set("Authorization", "OAuth "+access)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := me(tok.AccessToken); got != 200 {
		t.Fatalf("new token: got %d, want 200", got)
	}
	srv.ExpireTokens()
	if got := me(tok.AccessToken); got != 401 {
		t.Errorf("expired token: got %d, want 401", got)
	}
	// Refresh (POST form, as OAuth 2.0 clients do): new tokens, old ones dead.
	fresh, status := exchange("POST", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	if status != 200 || fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: got %d %+v, want 200 with rotated tokens", status, fresh)
	}
	if got := me(fresh.AccessToken); got != 200 {
		t.Errorf("refreshed token: got %d, want 200", got)
	}
	if _, status := exchange("POST", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}); status != 400 {
		t.Errorf("old refresh token: got %d, want 400", status)
	}
}

func TestSubscriptionsAndWebhooks(t *testing.T) {
	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.RequestURI()+" body="+string(body))
		mu.Unlock()
	}))
	defer hook.Close()
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 1, Users: 2, Checkins: 10, Types: []string{"steps", "sleeptime"}})

	cb := hook.URL + "/callback/user/1?type=steps"
	code, _, body := call(t, srv, "POST", "10001", "/api2/subscriptions?type=steps&url="+url.QueryEscape(cb))
	if code != 200 {
		t.Fatalf("subscribe: got %d %s", code, body)
	}
	code, _, body = call(t, srv, "GET", "10001", "/api2/subscriptions")
	var list struct {
		Data []struct {
			ID, UserID, ClientID, URL string
			Types                     []string
			Created                   int64
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil || code != 200 || len(list.Data) != 1 {
		t.Fatalf("list: got %d %s", code, body)
	}
	if s := list.Data[0]; s.UserID != "10001" || s.URL != cb || !slices.Equal(s.Types, []string{"steps"}) || s.ClientID != srv.ClientID() {
		t.Errorf("list: got %+v", s)
	}

	// A steps change notifies 10001 (the only subscriber) once, with an empty body.
	if _, err := srv.Add("10001", "steps"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Add("10001", "sleeptime"); err != nil { // not subscribed to sleeptime
		t.Fatal(err)
	}
	if _, err := srv.Add("10002", "steps"); err != nil { // not subscribed
		t.Fatal(err)
	}
	mu.Lock()
	want := []string{"POST /callback/user/1?type=steps&user=10001 body="}
	if !slices.Equal(got, want) {
		t.Errorf("webhooks: got %q, want %q", got, want)
	}
	mu.Unlock()
	if d := srv.Deliveries(); len(d) != 1 || d[0].Status != 200 || d[0].Err != nil {
		t.Errorf("Deliveries: got %+v", d)
	}

	code, _, _ = call(t, srv, "DELETE", "10001", "/api2/subscriptions")
	if cbURL, _ := srv.Subscribed("10001"); code != 200 || cbURL != "" {
		t.Errorf("unsubscribe: got %d, still subscribed to %q", code, cbURL)
	}
	if code, _, _ = call(t, srv, "DELETE", "10001", "/api2/subscriptions"); code != 404 {
		t.Errorf("unsubscribe twice: got %d, want 404", code)
	}
}

func TestWriteTokens(t *testing.T) {
	srv := azumiotest.New(azumiotest.Options{Users: 2, Checkins: 1})
	path := filepath.Join(t.TempDir(), "secrets", "tokens.json")
	if err := srv.WriteTokens(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode: got %v, want 0600", st.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	var f struct {
		Users map[string]azumiotest.Token `json:"users"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Users) != 2 || f.Users["10002"].AccessToken != srv.Tokens()["10002"].AccessToken {
		t.Errorf("tokens file: got %s", raw)
	}
}

// recordingTB catches what NewServer reports at cleanup.
type recordingTB struct {
	cleanups []func()
	errs     []string
}

func (r *recordingTB) Helper()                           {}
func (r *recordingTB) Cleanup(f func())                  { r.cleanups = append(r.cleanups, f) }
func (r *recordingTB) Errorf(format string, args ...any) { r.errs = append(r.errs, format) }

func TestUnknownRoutesFailLoudly(t *testing.T) {
	rec := &recordingTB{}
	srv := azumiotest.NewServer(rec, azumiotest.Options{Users: 1, Checkins: 1})
	code, _, _ := call(t, srv, "GET", "10001", "/api2/checkin")
	if code != 404 {
		t.Errorf("unknown route: got %d, want 404", code)
	}
	for _, f := range rec.cleanups {
		f()
	}
	if len(rec.errs) != 1 {
		t.Errorf("cleanup: got %d errors, want 1 naming the unknown route", len(rec.errs))
	}
	if _, err := http.Get(srv.URL()); err == nil {
		t.Errorf("after cleanup: the server still answers")
	}
}
