package asi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"golang.org/x/oauth2"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sources/asi/asitest"
)

func newAuth(emu *asitest.Server, tokens string, opts ...func(*AuthOptions)) *Auth {
	o := AuthOptions{BaseURL: emu.URL(), ClientID: asitest.ClientID, ClientSecret: asitest.ClientSecret,
		Tokens: tokens, Username: "manager1", Password: asitest.Password}
	for _, f := range opts {
		f(&o)
	}
	return NewAuth(o)
}

func newTestClient(t *testing.T, emu *asitest.Server, ts TokenSource) *Client {
	t.Helper()
	c, err := NewClient(ClientOptions{BaseURL: emu.URL(), Tokens: ts, Rate: 1000, Burst: 100, Retries: 2, RetryWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func me(t *testing.T, c *Client) string {
	t.Helper()
	var v struct {
		Username string `json:"username"`
	}
	if err := c.Do(context.Background(), "GET", "/api/v1/users/me/", nil, nil, &v); err != nil {
		t.Fatalf("users/me: %v", err)
	}
	return v.Username
}

func TestPasswordGrantWritesTheTokensFile(t *testing.T) {
	emu := asitest.NewServer(t, asitest.DefaultOptions())
	file := filepath.Join(t.TempDir(), "secrets", "asi.json")
	auth := newAuth(emu, file)
	if got := me(t, newTestClient(t, emu, auth)); got != "manager1" {
		t.Fatalf("users/me: got %q, want manager1", got)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("tokens file mode: got %o, want 600", fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(file)
	var keys map[string]any
	json.Unmarshal(raw, &keys)
	for k := range keys {
		switch k {
		case "base_url", "client_id", "access_token", "refresh_token", "token_type", "expiry":
		default:
			t.Errorf("tokens file holds %q, want only the service, the client id and the tokens", k)
		}
	}
	if strings.Contains(string(raw), asitest.ClientSecret) {
		t.Errorf("tokens file holds the client secret:\n%s", raw)
	}
	tok, err := ReadTokens(file, emu.URL(), asitest.ClientID)
	if err != nil || tok.AccessToken != auth.Current().AccessToken || tok.RefreshToken == "" {
		t.Fatalf("ReadTokens: got %v, %v; want the current pair", tok, err)
	}
	if _, err := ReadTokens(file, "https://api.asi.swiss", asitest.ClientID); err == nil || !strings.Contains(err.Error(), "run etl auth asi again") {
		t.Errorf("ReadTokens for another service: got %v, want a refusal", err)
	}
	if _, err := ReadTokens(file, emu.URL(), "other"); err == nil {
		t.Errorf("ReadTokens for another client: got no error")
	}
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 1 {
		t.Errorf("secrets directory: got %d entries, want only the tokens file (no temp file left)", len(entries))
	}

	// A second process starts from the file, without the password.
	next := newAuth(emu, file, func(o *AuthOptions) { o.Username, o.Password = "", "" })
	if got := me(t, newTestClient(t, emu, next)); got != "manager1" {
		t.Errorf("from the tokens file: got %q, want manager1", got)
	}
	if n := emu.Stats().Grants["password"]; n != 1 {
		t.Errorf("password grants: got %d, want 1 (the second client used the file)", n)
	}
}

func TestMissingTokensFile(t *testing.T) {
	emu := asitest.NewServer(t, asitest.DefaultOptions())
	file := filepath.Join(t.TempDir(), "none.json")
	auth := newAuth(emu, file, func(o *AuthOptions) { o.Username, o.Password = "", "" })
	err := newTestClient(t, emu, auth).Do(context.Background(), "GET", "/api/v1/users/me/", nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "etl auth asi --tokens "+file) {
		t.Errorf("got %v, want advice to run etl auth asi", err)
	}
	if _, transient := core.RetryAfter(err); transient {
		t.Errorf("a missing tokens file is not transient")
	}
}

// TestRefreshOnExpiry: tokens that live 300ms are refreshed when they expire,
// and the rotated pair is written back.
func TestRefreshOnExpiry(t *testing.T) {
	opts := asitest.DefaultOptions()
	opts.TokenLifetime = 300 * time.Millisecond
	emu := asitest.NewServer(t, opts)
	file := filepath.Join(t.TempDir(), "tokens.json")
	auth := newAuth(emu, file, func(o *AuthOptions) { o.RefreshBefore = 0 })
	c := newTestClient(t, emu, auth)
	me(t, c)
	first := auth.Current()
	time.Sleep(350 * time.Millisecond)
	me(t, c)
	second := auth.Current()
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatalf("after expiry: got the same tokens, want a refreshed pair")
	}
	if n := emu.Stats().Grants["refresh_token"]; n != 1 {
		t.Errorf("refreshes: got %d, want 1", n)
	}
	onDisk, err := ReadTokens(file, emu.URL(), asitest.ClientID)
	if err != nil || onDisk.RefreshToken != second.RefreshToken {
		t.Errorf("tokens file: got %v (%v), want the rotated refresh token", onDisk, err)
	}
}

// TestRefreshBeforeExpiry refreshes a token that still works but expires
// within refresh_before.
func TestRefreshBeforeExpiry(t *testing.T) {
	opts := asitest.DefaultOptions()
	opts.TokenLifetime = time.Minute
	emu := asitest.NewServer(t, opts)
	auth := newAuth(emu, "", func(o *AuthOptions) { o.RefreshBefore = 2 * time.Minute })
	c := newTestClient(t, emu, auth)
	me(t, c)
	me(t, c)
	if n := emu.Stats().Grants["refresh_token"]; n != 1 {
		t.Errorf("refreshes: got %d, want 1 (the token expires within refresh_before)", n)
	}
}

// TestUnauthorizedRefreshesOnce: a token the server revoked is refreshed after
// the 401, and a refused refresh token falls back to the password grant.
func TestUnauthorizedRefreshesOnce(t *testing.T) {
	emu := asitest.NewServer(t, asitest.DefaultOptions())
	auth := newAuth(emu, "")
	c := newTestClient(t, emu, auth)
	me(t, c)
	ctx := context.Background()
	if err := Revoke(ctx, nil, emu.URL(), asitest.ClientID, asitest.ClientSecret, auth.Current().AccessToken, "access_token"); err != nil {
		t.Fatal(err)
	}
	me(t, c) // 401, then the refresh token is refused too (revoked with the pair), then the password grant
	st := emu.Stats()
	if st.Status[http.StatusUnauthorized] != 1 || st.Grants["password"] != 2 {
		t.Errorf("got %d 401s and %d password grants, want 1 and 2", st.Status[http.StatusUnauthorized], st.Grants["password"])
	}

	// Without a password, a refused refresh token is a permanent error that
	// says what to do.
	noPw := newAuth(emu, "", func(o *AuthOptions) {
		o.Username, o.Password = "", ""
		o.Token = &oauth2.Token{AccessToken: "stale", RefreshToken: "revoked", Expiry: time.Now().Add(time.Hour)}
	})
	err := newTestClient(t, emu, noPw).Do(ctx, "GET", "/api/v1/users/me/", nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") || !strings.Contains(err.Error(), "etl auth asi") {
		t.Errorf("refused refresh token: got %v, want invalid_grant and advice", err)
	}
	if _, transient := core.RetryAfter(err); transient {
		t.Errorf("refused refresh token: got a transient error, want a permanent one")
	}
}

func TestClientRetries(t *testing.T) {
	emu := asitest.NewServer(t, asitest.DefaultOptions())
	c := newTestClient(t, emu, newAuth(emu, ""))
	me(t, c)

	t.Run("honours Retry-After", func(t *testing.T) {
		emu.SetFaults(asitest.Faults{RateLimitEvery: 2, RetryAfter: time.Second})
		defer emu.SetFaults(asitest.Faults{})
		me(t, c)
		start := time.Now()
		me(t, c)
		if d := time.Since(start); d < time.Second {
			t.Errorf("retry after a 429 with Retry-After: 1 came after %s, want at least 1s", d)
		}
	})
	t.Run("hands transient errors to the runner with the wait", func(t *testing.T) {
		emu.SetFaults(asitest.Faults{RateLimitEvery: 1, RetryAfter: 3 * time.Second, Path: "/devices/"})
		defer emu.SetFaults(asitest.Faults{})
		c, _ := NewClient(ClientOptions{BaseURL: emu.URL(), Tokens: newAuth(emu, ""), Rate: 1000})
		_, err := c.Get(context.Background(), "/api/v1/devices/", nil)
		wait, transient := core.RetryAfter(err)
		if !transient || wait != 3*time.Second || !IsStatus(err, http.StatusTooManyRequests) {
			t.Errorf("got %v (transient %v, wait %s), want a transient 429 asking for 3s", err, transient, wait)
		}
	})
	t.Run("retries 503 and cut connections", func(t *testing.T) {
		emu.SetFaults(asitest.Faults{ErrorEvery: 3, DropEvery: 5})
		defer emu.SetFaults(asitest.Faults{})
		for range 6 {
			me(t, c)
		}
		if st := emu.Stats(); st.ServerErrors == 0 || st.Dropped == 0 {
			t.Errorf("got %+v, want some 503s and cut connections", st)
		}
	})
	t.Run("trailing slash", func(t *testing.T) {
		_, err := c.Get(context.Background(), "/api/v1/users/me", nil)
		if !IsStatus(err, http.StatusNotFound) || !strings.Contains(err.Error(), "ends with a slash") {
			t.Errorf("got %v, want a 404 about the slash", err)
		}
		if _, transient := core.RetryAfter(err); transient {
			t.Errorf("a 404 is not transient")
		}
	})
	t.Run("cancelled during a wait", func(t *testing.T) {
		emu.SetFaults(asitest.Faults{RateLimitEvery: 1, RetryAfter: 10 * time.Second})
		defer emu.SetFaults(asitest.Faults{})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Get(ctx, "/api/v1/users/me/", nil)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
			t.Errorf("got %v after %s, want the context's error at once", err, time.Since(start))
		}
	})
}

// TestCodeFlow drives the browser part of the authorization code grant with
// an HTTP client that logs in and clicks Authorize.
func TestCodeFlow(t *testing.T) {
	emu := asitest.NewServer(t, asitest.DefaultOptions())
	conf := OAuthConfig(emu.URL(), asitest.ClientID, asitest.ClientSecret)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	var sawState string
	tok, err := CodeFlow(context.Background(), conf, nil, "127.0.0.1:0", func(authURL string) error {
		u, _ := url.Parse(authURL)
		sawState = u.Query().Get("state")
		if !strings.HasPrefix(authURL, emu.URL()+"/oauth2/authorize/?") || u.Query().Get("scope") != "all" {
			t.Errorf("authorize URL: got %s", authURL)
		}
		go func() {
			form := u.Query()
			form.Set("action", "login")
			form.Set("username", "manager1")
			form.Set("password", asitest.Password)
			if _, err := browser.PostForm(emu.URL()+"/oauth2/authorize/", form); err != nil {
				t.Error(err)
				return
			}
			form.Set("action", "allow")
			resp, err := browser.PostForm(emu.URL()+"/oauth2/authorize/", form) // follows the redirect to the callback
			if err != nil {
				t.Error(err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), "Success") {
				t.Errorf("callback page: got %s", body)
			}
		}()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sawState) < 16 || tok.RefreshToken == "" {
		t.Errorf("got state %q and token %v, want a random state and a refresh token", sawState, tok)
	}
	c := newTestClient(t, emu, NewAuth(AuthOptions{BaseURL: emu.URL(), ClientID: asitest.ClientID, ClientSecret: asitest.ClientSecret, Token: tok}))
	if got := me(t, c); got != "manager1" {
		t.Errorf("with the code flow's token: got %q, want manager1", got)
	}
	if n := emu.Stats().Grants["authorization_code"]; n != 1 {
		t.Errorf("authorization_code grants: got %d, want 1", n)
	}
}

// TestCodeFlowChecksState ignores a callback with a foreign state and fails
// on a denial.
func TestCodeFlowChecksState(t *testing.T) {
	emu := asitest.NewServer(t, asitest.DefaultOptions())
	conf := OAuthConfig(emu.URL(), asitest.ClientID, asitest.ClientSecret)
	_, err := CodeFlow(context.Background(), conf, nil, "127.0.0.1:0", func(authURL string) error {
		u, _ := url.Parse(authURL)
		cb, _ := url.Parse(u.Query().Get("redirect_uri"))
		go func() {
			forged := *cb
			forged.RawQuery = url.Values{"code": {"stolen"}, "state": {"forged"}}.Encode()
			resp, err := http.Get(forged.String())
			if err != nil || resp.StatusCode != http.StatusBadRequest {
				t.Errorf("forged state: got %v %v, want 400", resp.StatusCode, err)
			}
			denied := *cb
			denied.RawQuery = url.Values{"error": {"access_denied"}, "state": {u.Query().Get("state")}}.Encode()
			http.Get(denied.String())
		}()
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "access_denied") {
		t.Errorf("got %v, want the denial", err)
	}
	if n := emu.Stats().Grants["authorization_code"]; n != 0 {
		t.Errorf("the forged code was exchanged")
	}
}

// TestSharedTokensFile: two processes share a tokens file; when one rotates
// the refresh token, the other picks the new one up from the file instead of
// failing with the old one.
func TestSharedTokensFile(t *testing.T) {
	opts := asitest.DefaultOptions()
	opts.TokenLifetime = time.Minute
	emu := asitest.NewServer(t, opts)
	file := filepath.Join(t.TempDir(), "tokens.json")
	noPassword := func(o *AuthOptions) { o.Username, o.Password, o.RefreshBefore = "", "", 2*time.Minute }
	first := newAuth(emu, file)
	me(t, newTestClient(t, emu, first)) // password grant: writes the file
	loaded, err := ReadTokens(file, emu.URL(), asitest.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	// Both processes hold the same pair; both want to refresh it.
	a := newAuth(emu, file, noPassword, func(o *AuthOptions) { o.Token = loaded })
	b := newAuth(emu, file, noPassword, func(o *AuthOptions) { o.Token = loaded })
	me(t, newTestClient(t, emu, a)) // a refreshes and rotates the refresh token
	me(t, newTestClient(t, emu, b)) // b's refresh token is spent: b takes the file's
	if n := emu.Stats().Grants["refresh_token"]; n != 2 {
		t.Errorf("refreshes: got %d, want 2 (a's, then b's with the token a wrote)", n)
	}
	onDisk, _ := ReadTokens(file, emu.URL(), asitest.ClientID)
	if onDisk.RefreshToken != b.Current().RefreshToken {
		t.Errorf("tokens file: got another refresh token than b's latest")
	}
	if n := emu.Stats().Grants["password"]; n != 1 {
		t.Errorf("password grants: got %d, want 1", n)
	}
}
