package asitest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"
)

// client talks to an emulator as one user.
type client struct {
	t     *testing.T
	s     *Server
	token string
}

func login(t *testing.T, s *Server, username string) *client {
	t.Helper()
	tok, ok := s.IssueToken(username)
	if !ok {
		t.Fatalf("IssueToken(%s): no such user", username)
	}
	return &client{t: t, s: s, token: tok.AccessToken}
}

// do sends a request and decodes the JSON answer (nil if there is none).
func (c *client) do(method, path string, body any) (int, any) {
	c.t.Helper()
	resp, raw := c.raw(method, path, body)
	var v any
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &v); err != nil {
			c.t.Fatalf("%s %s: bad JSON %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, v
}

func (c *client) raw(method, path string, body any) (*http.Response, []byte) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.s.URL()+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp, raw
}

func (c *client) want(status int, method, path string, body any) any {
	c.t.Helper()
	got, v := c.do(method, path, body)
	if got != status {
		c.t.Fatalf("%s %s: got status %d (%v), want %d", method, path, got, v, status)
	}
	return v
}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

func TestTrailingSlashIsMandatory(t *testing.T) {
	s := NewServer(t, DefaultOptions())
	m := login(t, s, "manager1")
	for _, path := range []string{"/api/v1/users/me", "/api/v1/timeframes", "/api/v1/timeframes/1", "/api/v1/timeframes/1/computed-data", "/oauth2/token"} {
		t.Run(path, func(t *testing.T) {
			got, v := m.do(http.MethodGet, path, nil)
			if got != http.StatusNotFound {
				t.Errorf("GET %s: got %d, want 404", path, got)
			}
			if d, _ := obj(v)["detail"].(string); !strings.Contains(d, path+"/") {
				t.Errorf("GET %s: got detail %q, want it to name %s/", path, d, path)
			}
			if got, _ := m.do(http.MethodGet, path+"/", nil); path != "/oauth2/token" && got != http.StatusOK {
				t.Errorf("GET %s/: got %d, want 200", path, got)
			}
		})
	}
	if got, _ := m.do(http.MethodDelete, "/api/v1/users/me/", nil); got != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /api/v1/users/me/: got %d, want 405", got)
	}
	if got, _ := m.do(http.MethodGet, "/api/v1/nothing/", nil); got != http.StatusNotFound {
		t.Errorf("GET /api/v1/nothing/: got %d, want 404", got)
	}
}

func TestRoleRules(t *testing.T) {
	s := NewServer(t, DefaultOptions())
	anon := &client{t: t, s: s}
	m1 := login(t, s, "manager1")
	a1 := login(t, s, "athlete1")

	// Unauthenticated callers may only create accounts.
	anon.want(http.StatusUnauthorized, "GET", "/api/v1/users/me/", nil)
	anon.want(http.StatusUnauthorized, "GET", "/api/v1/athletes/", nil)
	anon.want(http.StatusUnauthorized, "POST", "/api/v1/activities/", map[string]any{"name": "x"})
	mgr := obj(anon.want(http.StatusCreated, "POST", "/api/v1/managers/", map[string]any{"username": "coach", "password": "pw", "first_name": "Kim"}))
	ath := obj(anon.want(http.StatusCreated, "POST", "/api/v1/athletes/", map[string]any{"username": "runner", "password": "pw", "weight": 61.5}))
	anon.want(http.StatusBadRequest, "POST", "/api/v1/athletes/", map[string]any{"username": "runner", "password": "pw"})

	coach := login(t, s, "coach")
	runner := login(t, s, "runner")
	coachID, runnerID := int64(mgr["id"].(float64)), int64(ath["id"].(float64))
	if me := obj(coach.want(http.StatusOK, "GET", "/api/v1/users/me/", nil)); me["role"] != RoleManager || obj(me["manager_profile"])["id"].(float64) != float64(coachID) {
		t.Errorf("users/me: got %v, want the manager profile of %d", me, coachID)
	}

	// Athletes do not create activities; managers do not grant permissions.
	a1.want(http.StatusForbidden, "POST", "/api/v1/activities/", map[string]any{"name": "x", "json": map[string]any{"sport": "tennis", "type": "match"}, "json_schema": 2})
	m1.want(http.StatusForbidden, "POST", "/api/v1/athletes/1/managers/1/permissions/", map[string]any{"start_time": "2026-01-01T00:00:00Z", "expiration_time": "2027-01-01T00:00:00Z", "permission": "READ"})
	// Another manager sees none of manager1's resources.
	coach.want(http.StatusNotFound, "GET", "/api/v1/timeframes/1/", nil)
	coach.want(http.StatusNotFound, "GET", "/api/v1/activities/1/", nil)
	if page := obj(coach.want(http.StatusOK, "GET", "/api/v1/timeframes/", nil)); page["count"].(float64) != 0 {
		t.Errorf("coach's time frames: got %v, want none", page)
	}

	// The coach needs WRITE from the runner to create a time frame, and READ
	// to read its computed data.
	act := obj(coach.want(http.StatusCreated, "POST", "/api/v1/activities/", map[string]any{"name": "Tempo", "json": map[string]any{"sport": "running"}, "json_schema": 4}))
	tf := map[string]any{"start_time": "2026-03-02T09:00:00.000Z", "end_time": "2026-03-02T10:00:00.000Z", "params": map[string]any{},
		"device": 1, "activity": act["id"], "athlete": runnerID}
	coach.want(http.StatusForbidden, "POST", "/api/v1/timeframes/", tf)
	perms := "/api/v1/athletes/" + itoa(runnerID) + "/managers/" + itoa(coachID) + "/permissions/"
	runner.want(http.StatusCreated, "POST", perms, map[string]any{"start_time": "2026-01-01T00:00:00.000Z", "expiration_time": "2026-12-31T23:59:59.000Z", "permission": "WRITE"})
	created := obj(coach.want(http.StatusCreated, "POST", "/api/v1/timeframes/", tf))
	tfPath := "/api/v1/timeframes/" + itoa(int64(created["id"].(float64))) + "/"
	v := obj(coach.want(http.StatusForbidden, "GET", tfPath+"computed-data/", nil))
	if d, _ := v["detail"].(string); !strings.Contains(d, "READ permission on athlete "+itoa(runnerID)) {
		t.Errorf("computed data without READ: got detail %q, want it to name the missing READ permission", d)
	}
	runner.want(http.StatusCreated, "POST", perms, map[string]any{"start_time": "2026-01-01T00:00:00.000Z", "expiration_time": "2026-12-31T23:59:59.000Z", "permission": "READ"})
	coach.want(http.StatusOK, "GET", tfPath+"computed-data/", nil)
	if page := obj(runner.want(http.StatusOK, "GET", perms, nil)); page["count"].(float64) != 2 {
		t.Errorf("permissions: got %v, want 2", page)
	}
	// A manager may only create resources he owns.
	coach.want(http.StatusForbidden, "POST", "/api/v1/activities/", map[string]any{"name": "x", "json": map[string]any{"sport": "running"}, "json_schema": 4, "owner": 1})
}

func TestActivityJSONIsValidatedAgainstItsSchema(t *testing.T) {
	s := NewServer(t, DefaultOptions())
	m := login(t, s, "manager1")
	tests := []struct {
		name   string
		json   any
		schema int
		status int
		want   string // in the "json" errors
	}{
		{"valid", map[string]any{"sport": "tennis", "type": "match"}, 2, http.StatusCreated, ""},
		{"wrong sport", map[string]any{"sport": "golf", "type": "match"}, 2, http.StatusBadRequest, "tennis"},
		{"missing type", map[string]any{"sport": "tennis"}, 2, http.StatusBadRequest, "type"},
		{"v2 needs field", map[string]any{"sport": "soccer", "type": "match"}, 3, http.StatusBadRequest, "field"},
		{"negative distance", map[string]any{"sport": "running", "distance_km": -1}, 4, http.StatusBadRequest, "minimum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, v := m.do("POST", "/api/v1/activities/", map[string]any{"name": tt.name, "json": tt.json, "json_schema": tt.schema})
			if got != tt.status {
				t.Fatalf("POST activity: got %d (%v), want %d", got, v, tt.status)
			}
			if tt.want == "" {
				return
			}
			errs, _ := obj(v)["json"].([]any)
			if len(errs) == 0 || !strings.Contains(strings.ToLower(strings.Join(strs(errs), " ")), tt.want) {
				t.Errorf("POST activity: got errors %v, want one about %q", v, tt.want)
			}
		})
	}
}

func strs(vs []any) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i], _ = v.(string)
	}
	return out
}

func TestPagination(t *testing.T) {
	opts := DefaultOptions()
	opts.Activities, opts.Athletes, opts.Devices = 5, 5, 5 // 25 time frames
	s := NewServer(t, opts)
	m := login(t, s, "manager1")
	var ids []float64
	for page := 1; ; page++ {
		v := obj(m.want(http.StatusOK, "GET", "/api/v1/timeframes/?limit=10&page="+itoa(int64(page)), nil))
		if v["count"].(float64) != 25 || v["page"].(float64) != float64(page) {
			t.Fatalf("page %d: got count %v page %v, want 25 and %d", page, v["count"], v["page"], page)
		}
		if page > 1 && v["previous"].(float64) != float64(page-1) {
			t.Errorf("page %d: got previous %v, want %d", page, v["previous"], page-1)
		}
		for _, r := range v["results"].([]any) {
			ids = append(ids, obj(r)["id"].(float64))
		}
		if v["next"] == nil {
			break
		}
		if v["next"].(float64) != float64(page+1) {
			t.Fatalf("page %d: got next %v, want %d", page, v["next"], page+1)
		}
	}
	if len(ids) != 25 || ids[0] != 1 || ids[24] != 25 {
		t.Errorf("got ids %v, want 1..25 once each", ids)
	}
	m.want(http.StatusNotFound, "GET", "/api/v1/timeframes/?limit=10&page=4", nil)
	if v := obj(m.want(http.StatusOK, "GET", "/api/v1/timeframes/?limit=100000", nil)); len(v["results"].([]any)) != 25 {
		t.Errorf("limit above 3000: got %d results, want all 25", len(v["results"].([]any)))
	}
	v := obj(m.want(http.StatusOK, "GET", "/api/v1/timeframes/?ordering=-id&limit=1&activity=2", nil))
	if got := obj(v["results"].([]any)[0]); got["id"].(float64) != 10 || v["count"].(float64) != 5 {
		t.Errorf("ordering=-id&activity=2: got %v, want time frame 10 first of 5", v)
	}
}

// postForm posts an OAuth form with the client's Basic credentials.
func postForm(t *testing.T, s *Server, path, user, pass string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL()+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v
}

func TestTokenEndpoint(t *testing.T) {
	s := NewServer(t, DefaultOptions())
	pw := url.Values{"grant_type": {"password"}, "username": {"manager1"}, "password": {Password}}
	tests := []struct {
		name       string
		user, pass string
		form       url.Values
		status     int
		errCode    string
	}{
		{"password grant", ClientID, ClientSecret, pw, 200, ""},
		{"no client auth", "", "", pw, 401, "invalid_client"},
		{"wrong secret", ClientID, "nope", pw, 401, "invalid_client"},
		{"wrong password", ClientID, ClientSecret, url.Values{"grant_type": {"password"}, "username": {"manager1"}, "password": {"x"}}, 400, "invalid_grant"},
		{"unknown grant", ClientID, ClientSecret, url.Values{"grant_type": {"client_credentials"}}, 400, "unsupported_grant_type"},
		{"bad refresh token", ClientID, ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, 400, "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, v := postForm(t, s, "/oauth2/token/", tt.user, tt.pass, tt.form)
			if got != tt.status || (tt.errCode != "" && v["error"] != tt.errCode) {
				t.Fatalf("got %d %v, want %d %s", got, v, tt.status, tt.errCode)
			}
			if tt.status == 200 && (v["access_token"] == "" || v["refresh_token"] == "" || v["token_type"] != "Bearer" || v["expires_in"].(float64) != 36000 || v["scope"] != "all") {
				t.Errorf("got token answer %v, want access and refresh tokens, Bearer, 36000 s, scope all", v)
			}
		})
	}

	t.Run("refresh rotates and revokes the old pair", func(t *testing.T) {
		_, first := postForm(t, s, "/oauth2/token/", ClientID, ClientSecret, pw)
		_, second := postForm(t, s, "/oauth2/token/", ClientID, ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}})
		if second["refresh_token"] == first["refresh_token"] || second["access_token"] == nil {
			t.Fatalf("refresh: got %v, want a new pair", second)
		}
		if got, _ := postForm(t, s, "/oauth2/token/", ClientID, ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}}); got != 400 {
			t.Errorf("reusing the old refresh token: got %d, want 400", got)
		}
		old := &client{t: t, s: s, token: first["access_token"].(string)}
		old.want(http.StatusUnauthorized, "GET", "/api/v1/users/me/", nil)
		cur := &client{t: t, s: s, token: second["access_token"].(string)}
		cur.want(http.StatusOK, "GET", "/api/v1/users/me/", nil)

		if got, _ := postForm(t, s, "/oauth2/revoke-token/", ClientID, ClientSecret, url.Values{"token": {second["refresh_token"].(string)}}); got != 200 {
			t.Fatalf("revoke: got %d, want 200", got)
		}
		cur.want(http.StatusUnauthorized, "GET", "/api/v1/users/me/", nil)
		if st := s.Stats(); st.Revoked != 1 || st.Grants["refresh_token"] != 1 {
			t.Errorf("stats: got %d revoked, %d refreshes, want 1 and 1", st.Revoked, st.Grants["refresh_token"])
		}
	})

	t.Run("tokens expire", func(t *testing.T) {
		s.SetTokenLifetime(50 * time.Millisecond)
		defer s.SetTokenLifetime(time.Hour)
		_, v := postForm(t, s, "/oauth2/token/", ClientID, ClientSecret, pw)
		c := &client{t: t, s: s, token: v["access_token"].(string)}
		c.want(http.StatusOK, "GET", "/api/v1/users/me/", nil)
		time.Sleep(80 * time.Millisecond)
		if d := obj(c.want(http.StatusUnauthorized, "GET", "/api/v1/users/me/", nil))["detail"]; !strings.Contains(d.(string), "expired") {
			t.Errorf("expired token: got detail %q, want it to say so", d)
		}
	})
}

// TestAuthorizationCodeFlow drives the login and consent pages like a browser.
func TestAuthorizationCodeFlow(t *testing.T) {
	s := NewServer(t, DefaultOptions())
	callback := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer callback.Close()
	redirect := callback.URL + "/callback"
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"response_type": {"code"}, "client_id": {ClientID}, "redirect_uri": {redirect}, "state": {"xyz"}, "scope": {"all"}}

	page := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if body := page(browser.Get(s.URL() + "/oauth2/authorize/?" + q.Encode())); !strings.Contains(body, `name="password"`) {
		t.Fatalf("authorize page: got %s, want a login form", body)
	}
	form := url.Values{"action": {"login"}, "username": {"manager1"}, "password": {"wrong"}}
	for k, v := range q {
		form[k] = v
	}
	if body := page(browser.PostForm(s.URL()+"/oauth2/authorize/", form)); !strings.Contains(body, "Wrong username or password") {
		t.Fatalf("bad login: got %s, want an error", body)
	}
	form.Set("password", Password)
	if body := page(browser.PostForm(s.URL()+"/oauth2/authorize/", form)); !strings.Contains(body, `value="allow"`) || !strings.Contains(body, "manager1") {
		t.Fatalf("after login: got %s, want the consent form", body)
	}
	form.Set("action", "allow")
	resp, err := browser.PostForm(s.URL()+"/oauth2/authorize/", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), redirect) || loc.Query().Get("state") != "xyz" || loc.Query().Get("code") == "" {
		t.Fatalf("allow: got %d to %s, want a redirect to the callback with code and state xyz", resp.StatusCode, loc)
	}
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {redirect}}
	if got, v := postForm(t, s, "/oauth2/token/", ClientID, ClientSecret, exchange); got != 200 || v["refresh_token"] == nil {
		t.Fatalf("exchange: got %d %v, want tokens", got, v)
	}
	if got, _ := postForm(t, s, "/oauth2/token/", ClientID, ClientSecret, exchange); got != 400 {
		t.Errorf("second exchange of the same code: got %d, want 400", got)
	}

	form.Set("action", "deny")
	resp, err = browser.PostForm(s.URL()+"/oauth2/authorize/", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ = url.Parse(resp.Header.Get("Location"))
	if loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "xyz" {
		t.Errorf("deny: got redirect %s, want error=access_denied with the state", loc)
	}
	bad := url.Values{"response_type": {"code"}, "client_id": {ClientID}, "redirect_uri": {"https://evil.example/cb"}}
	if resp, err := browser.Get(s.URL() + "/oauth2/authorize/?" + bad.Encode()); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("non-loopback redirect_uri: got %v %v, want 400", resp.StatusCode, err)
	}
}

func TestWebhooksFireWithTheSecret(t *testing.T) {
	s := NewServer(t, DefaultOptions())
	m := login(t, s, "manager1")
	got := make(chan *http.Request, 10)
	bodies := make(chan []byte, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer recv.Close()

	hook := obj(m.want(http.StatusCreated, "POST", "/api/v1/activities/1/webhooks/", map[string]any{
		"webhook_url": recv.URL + "/callback", "secret_token": "56789ABCD", "activity_events": false, "timeframes_events": true}))
	if hook["secret_token"] != "56*******" {
		t.Errorf("secret: got %v, want it masked as 56*******", hook["secret_token"])
	}
	m.want(http.StatusOK, "PATCH", "/api/v1/activities/1/", map[string]any{"name": "renamed"}) // activity events are off
	m.want(http.StatusOK, "PATCH", "/api/v1/timeframes/2/", map[string]any{"start_time": "2026-03-02T09:30:00+0100"})
	r := <-got
	var body map[string]any
	json.Unmarshal(<-bodies, &body)
	want := map[string]any{"event": "timeframe-updated", "webhook_id": hook["id"], "data": map[string]any{"activity_id": 1.0, "timeframe_id": 2.0}}
	if r.Header.Get(WebhookHeader) != "56789ABCD" || !reflect.DeepEqual(body, want) {
		t.Errorf("webhook call: got header %q body %v, want 56789ABCD and %v", r.Header.Get(WebhookHeader), body, want)
	}
	if d := s.Deliveries(); len(d) != 1 || d[0].Status != 200 {
		t.Errorf("deliveries: got %+v, want one delivered", d)
	}
	if v := obj(m.want(http.StatusOK, "GET", "/api/v1/timeframes/2/", nil)); v["start_time"] != "2026-03-02T08:30:00.000Z" {
		t.Errorf("patched start: got %v, want 2026-03-02T08:30:00.000Z", v["start_time"])
	}
	if page := obj(m.want(http.StatusOK, "GET", "/api/v1/activities/1/webhooks/", nil)); page["count"].(float64) != 1 {
		t.Errorf("webhook list: got %v, want 1", page)
	}
	path := "/api/v1/activities/1/webhooks/" + itoa(int64(hook["id"].(float64))) + "/"
	m.want(http.StatusOK, "PATCH", path, map[string]any{"activity_events": true})
	m.want(http.StatusNoContent, "DELETE", path, nil)
	m.want(http.StatusNotFound, "GET", path, nil)
}

func TestFaults(t *testing.T) {
	s := NewServer(t, DefaultOptions())
	m := login(t, s, "manager1")
	s.SetFaults(Faults{RateLimitEvery: 2, RetryAfter: 1500 * time.Millisecond})
	m.want(http.StatusOK, "GET", "/api/v1/users/me/", nil)
	resp, _ := m.raw("GET", "/api/v1/users/me/", nil)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("second request: got %d Retry-After %q, want 429 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	s.SetFaults(Faults{ErrorEvery: 1, Path: "/timeframes/"})
	m.want(http.StatusOK, "GET", "/api/v1/users/me/", nil)
	m.want(http.StatusServiceUnavailable, "GET", "/api/v1/timeframes/", nil)

	s.SetFaults(Faults{DropEvery: 1})
	req, _ := http.NewRequest("GET", s.URL()+"/api/v1/timeframes/", nil)
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Errorf("dropped answer: got no error, want the connection cut")
	}

	s.SetFaults(Faults{Delay: 100 * time.Millisecond})
	start := time.Now()
	m.want(http.StatusOK, "GET", "/api/v1/users/me/", nil)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("delayed answer came after %s, want at least 100ms", d)
	}
	s.SetFaults(Faults{})
	st := s.Stats()
	if st.RateLimited != 1 || st.ServerErrors != 1 || st.Dropped != 1 || st.Status[429] != 1 {
		t.Errorf("stats: got %+v, want one of each fault", st)
	}
}

func TestDeviceOwnership(t *testing.T) {
	opts := DefaultOptions()
	opts.Managers = 2
	s := NewServer(t, opts)
	m1, m2 := login(t, s, "manager1"), login(t, s, "manager2")
	m2.want(http.StatusBadRequest, "POST", "/api/v1/devices/1/take-ownership/", nil) // owned by manager1
	m2.want(http.StatusBadRequest, "POST", "/api/v1/devices/1/release-ownership/", nil)
	m2.want(http.StatusForbidden, "GET", "/api/v1/devices/1/preprocessed-data/?start=2026-03-02T08:00:00Z&end=2026-03-02T12:00:00Z", nil)

	// manager1 releases device 1 during the first activity; manager2 takes it.
	s.Clock.Set(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	m1.want(http.StatusOK, "POST", "/api/v1/devices/1/release-ownership/", nil)
	m2.want(http.StatusOK, "POST", "/api/v1/devices/1/take-ownership/", nil)
	s.Clock.Set(time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC))

	ranges := func(c *client) []any {
		v := obj(c.want(http.StatusOK, "GET", "/api/v1/devices/1/preprocessed-data-ranges/?start=2026-03-01T00:00:00Z&end=2026-03-05T00:00:00Z", nil))
		return v["results"].([]any)
	}
	want1 := []any{map[string]any{"start": "2026-03-02T08:55:00.000Z", "end": "2026-03-02T10:00:00.000Z"}}
	want2 := []any{
		map[string]any{"start": "2026-03-02T10:00:00.000Z", "end": "2026-03-02T10:35:00.000Z"},
		map[string]any{"start": "2026-03-03T08:55:00.000Z", "end": "2026-03-03T10:35:00.000Z"},
	}
	if got := ranges(m1); !reflect.DeepEqual(got, want1) {
		t.Errorf("manager1's ranges: got %v, want %v", got, want1)
	}
	if got := ranges(m2); !reflect.DeepEqual(got, want2) {
		t.Errorf("manager2's ranges: got %v, want %v", got, want2)
	}
	if v := obj(m1.want(http.StatusOK, "GET", "/api/v1/devices/?current=true", nil)); v["count"].(float64) != 3 {
		t.Errorf("manager1's current devices: got %v, want 3", v["count"])
	}
	if v := obj(m1.want(http.StatusOK, "GET", "/api/v1/devices/", nil)); v["count"].(float64) != 4 {
		t.Errorf("manager1's devices, ever owned: got %v, want 4", v["count"])
	}
}

func TestPreprocessedData(t *testing.T) {
	opts := DefaultOptions()
	opts.Rate = 10
	s := NewServer(t, opts)
	m := login(t, s, "manager1")
	for _, q := range []string{"", "?start=2026-03-02T09:00:00Z", "?start=2026-03-02T09:00:00Z&end=2026-03-05T09:00:00Z", "?start=x&end=2026-03-02T10:00:00Z", "?start=2026-03-02T10:00:00Z&end=2026-03-02T09:00:00Z"} {
		m.want(http.StatusBadRequest, "GET", "/api/v1/devices/4/preprocessed-data/"+q, nil)
	}
	// 10 minutes of data: 600 messages of one second each.
	path := "/api/v1/devices/4/preprocessed-data/?start=2026-03-02T09:00:00.000Z&end=1772442600000&limit=250"
	v := obj(m.want(http.StatusOK, "GET", path+"&page=3", nil))
	if v["count"].(float64) != 600 || v["next"] != nil || len(v["results"].([]any)) != 100 {
		t.Fatalf("page 3: got count %v next %v and %d results, want 600, null, 100", v["count"], v["next"], len(v["results"].([]any)))
	}
	msg := obj(v["results"].([]any)[0])
	gnss := obj(msg["gnss"])
	if n := len(gnss["timestamp"].([]any)); n != 10 {
		t.Errorf("gnss samples per message: got %d, want 10", n)
	}
	for _, k := range []string{"longitude", "latitude", "speed", "altitude", "hdop"} {
		if len(gnss[k].([]any)) != 10 {
			t.Errorf("gnss.%s: got %d values, want 10 parallel to timestamp", k, len(gnss[k].([]any)))
		}
	}
	if ts := gnss["timestamp"].([]any)[0].(float64); ts != float64(time.Date(2026, 3, 2, 9, 8, 20, 0, time.UTC).UnixMilli()) {
		t.Errorf("first message of page 3: got timestamp %v, want 09:08:20", ts)
	}
	for _, g := range []string{"ecg", "pwr"} {
		if msg[g] == nil {
			t.Errorf("device 4's message lacks group %s", g)
		}
	}
	if msg["imu"] != nil {
		t.Errorf("device 4's message has group imu, which only devices 3, 6, ... have")
	}

	// Equal seeds serve equal data; another seed other data.
	other := NewServer(t, opts)
	opts.Seed = 2
	third := NewServer(t, opts)
	_, a := m.raw("GET", path, nil)
	_, b := login(t, other, "manager1").raw("GET", path, nil)
	_, c := login(t, third, "manager1").raw("GET", path, nil)
	if !bytes.Equal(a, b) {
		t.Errorf("two emulators with seed 1 served different data")
	}
	if bytes.Equal(a, c) {
		t.Errorf("seeds 1 and 2 served the same data")
	}
}

func TestComputedDataFollowsTheTimeframe(t *testing.T) {
	s := NewServer(t, DefaultOptions())
	m := login(t, s, "manager1")
	before := obj(m.want(http.StatusOK, "GET", "/api/v1/timeframes/1/computed-data/", nil))
	for _, k := range []string{"total_distance", "max_speed", "average_speed", "last_timestamp", "accelerations", "decelerations", "player_load"} {
		if _, ok := before[k]; !ok {
			t.Errorf("computed data lacks %s: %v", k, before)
		}
	}
	if th := obj(obj(before["accelerations"])["threshold_2"])["threshold"]; th != 3.0 {
		t.Errorf("accelerations.threshold_2.threshold: got %v, want 3", th)
	}
	m.want(http.StatusOK, "PATCH", "/api/v1/timeframes/1/", map[string]any{"end_time": "2026-03-02T10:00:00.000Z", "params": map[string]any{"thresholds": []float64{2.5}}})
	after := obj(m.want(http.StatusOK, "GET", "/api/v1/timeframes/1/computed-data/", nil))
	if after["total_distance"].(float64) >= before["total_distance"].(float64) {
		t.Errorf("total distance after shortening the time frame: got %v, want less than %v", after["total_distance"], before["total_distance"])
	}
	if acc := obj(after["accelerations"]); len(acc) != 1 || obj(acc["threshold_1"])["threshold"] != 2.5 {
		t.Errorf("accelerations with thresholds [2.5]: got %v", acc)
	}
	list := m.want(http.StatusOK, "GET", "/api/v1/activities/1/computed-data/", nil).([]any)
	if len(list) != 4 || obj(list[0])["timeframe"].(float64) != 1 {
		t.Errorf("activity computed data: got %d entries, want 4 from time frame 1", len(list))
	}
}
