package asi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"
	"golang.org/x/oauth2"

	"github.com/etl-toolkit/etl/core"
)

// OAuth 2.0 endpoints, relative to the base URL (the trailing slash is
// mandatory).
const (
	AuthorizePath = "/oauth2/authorize/"
	TokenPath     = "/oauth2/token/"
	RevokePath    = "/oauth2/revoke-token/"
	// Scope is the only scope the service knows.
	Scope = "all"
)

// OAuthConfig returns the OAuth 2.0 client configuration for the service at
// baseURL: client authentication by HTTP Basic, scope all.
func OAuthConfig(baseURL, clientID, clientSecret string) *oauth2.Config {
	base := strings.TrimSuffix(baseURL, "/")
	return &oauth2.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		Scopes:       []string{Scope},
		Endpoint: oauth2.Endpoint{
			AuthURL:   base + AuthorizePath,
			TokenURL:  base + TokenPath,
			AuthStyle: oauth2.AuthStyleInHeader,
		},
	}
}

// tokenFile is what a tokens file holds. It names the service and client the
// tokens belong to, so a file is never sent to another service.
type tokenFile struct {
	BaseURL      string    `json:"base_url"`
	ClientID     string    `json:"client_id"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	TokenType    string    `json:"token_type,omitempty"`
	Expiry       time.Time `json:"expiry"`
}

// ReadTokens reads a tokens file written by WriteTokens. A file for another
// service or client is an error (the message holds no token).
func ReadTokens(path, baseURL, clientID string) (*oauth2.Token, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("asi: tokens: %w", err)
	}
	var f tokenFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("asi: tokens file %s: not a tokens file: %w", path, err)
	}
	if f.BaseURL != "" && strings.TrimSuffix(f.BaseURL, "/") != strings.TrimSuffix(baseURL, "/") {
		return nil, fmt.Errorf("asi: tokens file %s holds tokens for %s, not %s; run etl auth asi again", path, f.BaseURL, baseURL)
	}
	if f.ClientID != "" && f.ClientID != clientID {
		return nil, fmt.Errorf("asi: tokens file %s holds tokens of client %q, not %q; run etl auth asi again", path, f.ClientID, clientID)
	}
	if f.RefreshToken == "" && f.AccessToken == "" {
		return nil, fmt.Errorf("asi: tokens file %s holds no token (revoked?); run etl auth asi again", path)
	}
	return &oauth2.Token{AccessToken: f.AccessToken, RefreshToken: f.RefreshToken, TokenType: f.TokenType, Expiry: f.Expiry}, nil
}

// WriteTokens writes tok to path atomically, readable by its owner only
// (0600): a temp file in the same directory, fsynced, renamed over path, and
// the directory fsynced. A crash leaves either the old tokens or the new ones.
func WriteTokens(path, baseURL, clientID string, tok *oauth2.Token) error {
	f := tokenFile{BaseURL: baseURL, ClientID: clientID}
	if tok != nil {
		f.AccessToken, f.RefreshToken, f.TokenType, f.Expiry = tok.AccessToken, tok.RefreshToken, tok.TokenType, tok.Expiry
	}
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("asi: tokens: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("asi: tokens: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("asi: tokens: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("asi: tokens: %w", err)
	}
	if _, err := tmp.Write(append(raw, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("asi: tokens: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("asi: tokens: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("asi: tokens: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("asi: tokens: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Auth is the TokenSource of a Client: it hands out the current access token,
// refreshes it RefreshBefore its expiry (and after a 401), falls back to the
// password grant when there is no refresh token or it is refused, and writes
// every new token pair to the tokens file, since the service rotates refresh
// tokens. Refreshes are serialised, so concurrent units never spend the same
// refresh token twice; when the service refuses the refresh token it holds,
// Auth takes the tokens file's if another process has rotated it since.
// Errors never hold a token or a password.
type Auth struct {
	conf    *oauth2.Config
	hc      *http.Client
	baseURL string
	// File is the tokens file ("" to keep tokens in memory only).
	file string
	// Username and Password enable the password grant.
	username, password string
	early              time.Duration

	mu     sync.Mutex
	tok    *oauth2.Token
	loaded bool
}

// AuthOptions configure an Auth.
type AuthOptions struct {
	BaseURL, ClientID, ClientSecret string
	// Tokens is the tokens file ("": none).
	Tokens string
	// Username and Password, if set, log in with the password grant when
	// there are no usable tokens.
	Username, Password string
	// RefreshBefore is how long before expiry a token is refreshed.
	RefreshBefore time.Duration
	// HTTP is the client for the token endpoint.
	HTTP *http.Client
	// Token is a token to start from (instead of the file's).
	Token *oauth2.Token
}

// NewAuth returns an Auth; it does no I/O until the first Token.
func NewAuth(opts AuthOptions) *Auth {
	if opts.HTTP == nil {
		opts.HTTP = &http.Client{Timeout: time.Minute}
	}
	return &Auth{
		conf: OAuthConfig(opts.BaseURL, opts.ClientID, opts.ClientSecret), hc: opts.HTTP, baseURL: opts.BaseURL,
		file: opts.Tokens, username: opts.Username, password: opts.Password, early: opts.RefreshBefore,
		tok: opts.Token, loaded: opts.Token != nil,
	}
}

// Token implements TokenSource.
func (a *Auth) Token(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.loaded && a.file != "" {
		a.loaded = true
		tok, err := ReadTokens(a.file, a.baseURL, a.conf.ClientID)
		switch {
		case err == nil:
			a.tok = tok
		case errors.Is(err, os.ErrNotExist) && a.username != "":
			// First run with the password grant: the file is written below.
		default:
			if errors.Is(err, os.ErrNotExist) {
				return "", fmt.Errorf("asi: no tokens file %s: run etl auth asi --tokens %s first, or configure username and password", a.file, a.file)
			}
			return "", err
		}
	}
	if a.tok != nil && a.tok.AccessToken != "" && (a.tok.Expiry.IsZero() || time.Now().Add(a.early).Before(a.tok.Expiry)) {
		return a.tok.AccessToken, nil
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, a.hc)
	var (
		tok *oauth2.Token
		err error
	)
	if a.tok != nil && a.tok.RefreshToken != "" {
		tok, err = a.refresh(ctx, a.tok.RefreshToken)
		if isInvalidGrant(err) && a.file != "" {
			// Another process sharing the tokens file may have rotated the
			// refresh token we hold: take the file's, if it is another one.
			if ft, ferr := ReadTokens(a.file, a.baseURL, a.conf.ClientID); ferr == nil && ft.RefreshToken != a.tok.RefreshToken {
				a.tok = ft
				if ft.AccessToken != "" && time.Now().Add(a.early).Before(ft.Expiry) {
					return ft.AccessToken, nil
				}
				tok, err = a.refresh(ctx, ft.RefreshToken)
			}
		}
	}
	if tok == nil && a.username != "" && (err == nil || isInvalidGrant(err)) {
		tok, err = a.conf.PasswordCredentialsToken(ctx, a.username, a.password)
		if err != nil {
			err = tokenError("logging in as "+a.username+" (password grant)", err)
		}
	}
	if tok == nil {
		if err == nil {
			err = errors.New("asi: no usable token: run etl auth asi, or configure username and password")
		}
		return "", err
	}
	if tok.RefreshToken == "" && a.tok != nil {
		tok.RefreshToken = a.tok.RefreshToken // the server kept the old one
	}
	a.tok = tok
	if a.file != "" {
		if err := WriteTokens(a.file, a.baseURL, a.conf.ClientID, tok); err != nil {
			return "", err
		}
	}
	return tok.AccessToken, nil
}

// refresh spends a refresh token.
func (a *Auth) refresh(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	tok, err := a.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return nil, tokenError("refreshing the access token", err)
	}
	return tok, nil
}

// Invalidate implements TokenSource: the next Token refreshes, unless another
// request already did.
func (a *Auth) Invalidate(tok string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok != nil && a.tok.AccessToken == tok {
		a.tok.AccessToken = ""
	}
}

// Current returns a copy of the current token pair (nil before the first
// Token).
func (a *Auth) Current() *oauth2.Token {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok == nil {
		return nil
	}
	t := *a.tok
	return &t
}

// errInvalidGrant marks a refresh token or password the server refused.
var errInvalidGrant = errors.New("invalid_grant")

func isInvalidGrant(err error) bool { return errors.Is(err, errInvalidGrant) }

// tokenError turns an error of the token endpoint into ours: permanent when
// the server refused the grant or the client, transient otherwise (network,
// 5xx). It keeps the server's error code and description, never the body.
func tokenError(what string, err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return core.Transient(fmt.Errorf("asi: %s: %w", what, stripURL(err)), 0)
	}
	code := re.ErrorCode
	msg := fmt.Sprintf("asi: %s: %d %s", what, re.Response.StatusCode, http.StatusText(re.Response.StatusCode))
	if code != "" {
		msg += ": " + code
	}
	if re.ErrorDescription != "" {
		msg += " (" + re.ErrorDescription + ")"
	}
	switch {
	case code == "invalid_grant":
		return fmt.Errorf("%s; log in again with etl auth asi: %w", msg, errInvalidGrant)
	case code == "invalid_client" || re.Response.StatusCode == http.StatusUnauthorized:
		return errors.New(msg + "; check client_id and client_secret")
	case re.Response.StatusCode == http.StatusTooManyRequests || re.Response.StatusCode >= 500:
		return core.Transient(errors.New(msg), retryAfter(re.Response.Header.Get("Retry-After")))
	}
	return errors.New(msg)
}

// Revoke revokes token (an access or refresh token) at the service's revoke
// endpoint, authenticating the client by HTTP Basic.
func Revoke(ctx context.Context, hc *http.Client, baseURL, clientID, clientSecret, token, hint string) error {
	if hc == nil {
		hc = http.DefaultClient
	}
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	target := strings.TrimSuffix(baseURL, "/") + RevokePath
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("asi: revoke: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("asi: POST %s: %w", target, stripURL(err))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return &APIError{Method: http.MethodPost, URL: target, Status: resp.StatusCode, Detail: reason(raw)}
	}
	return nil
}

// CodeFlow runs the authorization code grant with a loopback redirect: it
// listens on listen (e.g. "127.0.0.1:0"), calls open with the authorize URL
// for the user's browser, waits for the redirect, checks its state against
// the one it sent (CSRF), and exchanges the code. The redirect URI is
// http://ADDR/callback. It returns when ctx is done, too.
func CodeFlow(ctx context.Context, conf *oauth2.Config, hc *http.Client, listen string, open func(authURL string) error) (*oauth2.Token, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("asi: callback listener: %w", err)
	}
	defer ln.Close()
	c := *conf
	c.RedirectURL = "http://" + ln.Addr().String() + "/callback"
	b := make([]byte, 16)
	rand.Read(b)
	state := hex.EncodeToString(b)

	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	finish := func(r result) {
		select {
		case done <- r:
		default:
		}
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	xctx := context.WithValue(ctx, oauth2.HTTPClient, hc)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		page := func(status int, msg string) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(status)
			fmt.Fprintf(w, "<!doctype html><title>etl: ASI authorization</title><p>%s</p>\n", html.EscapeString(msg))
		}
		switch {
		case q.Get("state") != state:
			// Not our request: keep waiting for the right one.
			page(http.StatusBadRequest, "Unexpected state parameter: this is not the authorization etl started.")
			return
		case q.Get("error") != "":
			page(http.StatusOK, "Authorization failed: "+q.Get("error")+". You can close this window.")
			finish(result{err: fmt.Errorf("asi: authorization failed: %s", q.Get("error"))})
			return
		case q.Get("code") == "":
			page(http.StatusBadRequest, "The redirect carries no code.")
			return
		}
		tok, err := c.Exchange(xctx, q.Get("code"))
		if err != nil {
			page(http.StatusOK, "Could not exchange the authorization code; see the terminal.")
			finish(result{err: tokenError("exchanging the authorization code", err)})
			return
		}
		page(http.StatusOK, "Success: etl may now access your ASI data. You can close this window.")
		finish(result{tok: tok})
	})}
	go srv.Serve(ln)
	defer srv.Close()
	if err := open(c.AuthCodeURL(state)); err != nil {
		return nil, err
	}
	select {
	case r := <-done:
		return r.tok, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("asi: waiting for the authorization: %w", ctx.Err())
	}
}
