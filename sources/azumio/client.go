package azumio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/goccy/go-json"
	"golang.org/x/oauth2"

	"github.com/etl-toolkit/etl/core"
)

// Client calls the Azumio API on behalf of the users of a token store: it sends
// the two credentials of every call, keeps to a request rate shared by every
// user, retries transient failures with exponential backoff that honours
// Retry-After, refreshes expired tokens (writing the rotated ones back to the
// store), and optionally archives every page or replays an archive instead of
// calling the API. Safe for concurrent use.
type Client struct {
	cfg      Config
	base     *url.URL
	hc       *http.Client
	tokens   *Tokens
	limiter  core.Limiter // nil: unlimited
	limiters core.Limiters
	log      *slog.Logger
	archive  *archiveWriter
	replay   *replayReader

	refreshMu sync.Mutex
}

// APIError is an answer of the API other than 200. Its message names the user,
// the method and the URL (never the token) and what to do about it.
type APIError struct {
	User       string
	Method     string
	URL        string // without credentials
	Status     int
	Detail     string        // the envelope's errorDetail, or the start of the body
	RetryAfter time.Duration // from a Retry-After header
	Hint       string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.User != "" {
		msg = "user " + e.User + ": " + msg
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

// ErrUnauthorized is wrapped by errors for a token the API rejects and that
// cannot be refreshed.
var ErrUnauthorized = errors.New("token rejected")

// ClientOption adjusts a Client.
type ClientOption func(*Client)

// WithHTTPClient makes the client send its requests through hc.
func WithHTTPClient(hc *http.Client) ClientOption { return func(c *Client) { c.hc = hc } }

// WithLogger sets the client's logger.
func WithLogger(l *slog.Logger) ClientOption { return func(c *Client) { c.log = l } }

// WithLimiters makes the client take its request-rate limiter from l (default
// core.LocalLimiters), e.g. one budget shared by scale-out workers.
func WithLimiters(l core.Limiters) ClientOption { return func(c *Client) { c.limiters = l } }

// NewClient returns a client for cfg (checked by the caller, e.g. through
// DecodeConfig) that takes its tokens from tokens. With cfg.Replay set it reads
// the archive instead and needs no tokens; with cfg.Archive set it keeps every
// page it fetches.
func NewClient(cfg Config, tokens *Tokens, opts ...ClientOption) (*Client, error) {
	c := &Client{cfg: cfg, tokens: tokens, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(c)
	}
	if cfg.Replay != "" {
		c.replay = newReplayReader(cfg.Replay)
		return c, nil
	}
	base, err := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/"))
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("azumio: base_url %q is not a URL", cfg.BaseURL)
	}
	c.base = base
	if c.hc == nil {
		c.hc = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
			ForceAttemptHTTP2:   true,
		}}
	}
	if cfg.RequestsPerSecond > 0 {
		if c.limiters == nil {
			c.limiters = core.LocalLimiters
		}
		// The budget is the client id's at this API (the id is not a secret).
		c.limiter = c.limiters("azumio "+base.Host+" client "+cfg.ClientID, cfg.RequestsPerSecond, cfg.Burst)
	}
	if cfg.Archive != "" {
		c.archive = newArchiveWriter(cfg.Archive, cfg.ArchiveCompression)
	}
	return c, nil
}

// Close flushes the archive and drops idle connections.
func (c *Client) Close() error {
	if c.hc != nil {
		c.hc.CloseIdleConnections()
	}
	if c.archive != nil {
		return c.archive.Close()
	}
	return nil
}

// endUser flushes and closes what the client holds for user (its archive file,
// its replayed pages) at the end of a read.
func (c *Client) endUser(user string) error {
	if c.replay != nil {
		c.replay.release(user)
	}
	if c.archive != nil {
		return c.archive.closeUser(user)
	}
	return nil
}

// request is one API call.
type request struct {
	method string
	path   string
	query  url.Values
}

// key is the request as the archive records it: method, path and sorted query,
// without credentials.
func (r request) key() string {
	k := r.method + " " + r.path
	if len(r.query) > 0 {
		k += "?" + r.query.Encode()
	}
	return k
}

// errStatus carries a Retry-After wait into backoff.Retry.
type retryAfterError struct {
	err  error
	wait time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// As lets backoff.Retry find the wait as a *backoff.RetryAfterError.
func (e *retryAfterError) As(target any) bool {
	if t, ok := target.(**backoff.RetryAfterError); ok {
		*t = &backoff.RetryAfterError{Duration: e.wait}
		return true
	}
	return false
}

// do sends req for user and hands the body of a 200 to accept, retrying
// transient failures: network errors, timeouts, 408, 429, 5xx, and a body that
// accept cannot parse (a cut answer). A 401 refreshes the user's token once when
// it can. When the tries run out the error is transient (core.Transient, with the
// last Retry-After), so the runner retries the unit later; other errors are
// permanent. buf, if not nil, is reused for the body.
func (c *Client) do(ctx context.Context, user string, req request, buf *bytes.Buffer, accept func(body []byte) error) error {
	if c.replay != nil {
		body, err := c.replay.lookup(user, req.key())
		if err != nil {
			return err
		}
		return accept(body)
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = c.cfg.Retry.Initial
	bo.MaxInterval = c.cfg.Retry.Max
	refreshed := false
	var lastWait time.Duration
	op := func() (struct{}, error) {
		err := c.once(ctx, user, req, buf, accept)
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized && !refreshed {
			refreshed = true
			switch rerr := c.refreshAfter401(ctx, user); {
			case rerr == nil:
				err = c.once(ctx, user, req, buf, accept)
			case errors.Is(rerr, errNoRefresh):
			default:
				ae.Hint = fmt.Sprintf("the token was rejected and refreshing it failed: %v; run `etl auth azumio` to log user %s in again", rerr, user)
				return struct{}{}, backoff.Permanent(fmt.Errorf("%w: %w", ErrUnauthorized, ae))
			}
		}
		if err == nil {
			return struct{}{}, nil
		}
		if ctx.Err() != nil {
			return struct{}{}, backoff.Permanent(ctx.Err())
		}
		if errors.As(err, &ae) {
			switch {
			case ae.Status == http.StatusUnauthorized:
				ae.Hint = fmt.Sprintf("the token was rejected; run `etl auth azumio` to log user %s in again", user)
				return struct{}{}, backoff.Permanent(fmt.Errorf("%w: %w", ErrUnauthorized, ae))
			case ae.Status == http.StatusTooManyRequests && ae.RetryAfter > 0:
				lastWait = ae.RetryAfter
				return struct{}{}, &retryAfterError{err: ae, wait: ae.RetryAfter}
			case ae.Status == http.StatusTooManyRequests, ae.Status == http.StatusRequestTimeout, ae.Status >= 500:
				if ae.RetryAfter > 0 {
					lastWait = ae.RetryAfter
					return struct{}{}, &retryAfterError{err: ae, wait: ae.RetryAfter}
				}
				return struct{}{}, ae
			}
			return struct{}{}, backoff.Permanent(ae)
		}
		var pe *permanentError
		var be *badAnswerError
		if errors.As(err, &pe) || errors.As(err, &be) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err // network error, timeout, cut body: retry
	}
	notify := func(err error, wait time.Duration) {
		status := fmt.Sprintf("waiting %s: %v", wait.Round(time.Millisecond), shortError(err))
		core.ReportStatus(ctx, status)
		c.log.Debug("azumio: retrying", "user", user, "request", req.key(), "in", wait, "err", err)
	}
	_, err := backoff.Retry(ctx, op,
		backoff.WithBackOff(bo),
		backoff.WithMaxTries(uint(c.cfg.Retry.Tries)),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(notify))
	core.ReportStatus(ctx, "")
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("azumio: user %s: %w", user, ctx.Err())
	}
	var perm *backoff.PermanentError
	if errors.As(err, &perm) {
		err = perm.Err
	}
	if isTransient(err) {
		return core.Transient(fmt.Errorf("azumio: %w (after %d tries)", err, c.cfg.Retry.Tries), lastWait)
	}
	return fmt.Errorf("azumio: %w", err)
}

// isTransient reports whether an error that ended do's retries is worth
// retrying later (the unit again, from its last position).
func isTransient(err error) bool {
	if errors.Is(err, ErrUnauthorized) || errors.Is(err, errReplay) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusRequestTimeout || ae.Status >= 500
	}
	var pe *permanentError
	var be *badAnswerError
	return !errors.As(err, &pe) && !errors.As(err, &be)
}

// permanentError marks an error that retrying the same request cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// badAnswerError marks a well-formed answer of the wrong shape (a fragment
// without its start, say): asking again cannot fix it.
type badAnswerError struct{ err error }

func (e *badAnswerError) Error() string { return e.err.Error() }
func (e *badAnswerError) Unwrap() error { return e.err }

// shortError keeps the first line of an error, for status displays.
func shortError(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// once sends req once.
func (c *Client) once(ctx context.Context, user string, req request, buf *bytes.Buffer, accept func(body []byte) error) error {
	tok, err := c.token(ctx, user)
	if err != nil {
		return &permanentError{err}
	}
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return err
		}
	}
	u := *c.base
	u.Path = c.base.Path + req.path
	q := url.Values{}
	for k, v := range req.query {
		q[k] = v
	}
	shown := u
	shown.RawQuery = q.Encode()
	if c.cfg.TokenIn == "query" {
		h, _ := json.Marshal(map[string]string{"Authentication": "OAuth " + tok.AccessToken})
		q.Set("_headers", string(h))
	}
	u.RawQuery = q.Encode()
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(rctx, req.method, u.String(), nil)
	if err != nil {
		return &permanentError{err}
	}
	hreq.Header.Set("X-Client-ID", c.cfg.ClientID)
	if c.cfg.TokenIn != "query" {
		hreq.Header.Set("Authorization", "OAuth "+tok.AccessToken)
	}
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", "etl-azumio/1")
	if c.cfg.Timezone != "" {
		hreq.Header.Set("X-Timezone", c.cfg.Timezone)
	}
	resp, err := c.hc.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("user %s: %s %s: %w", user, req.method, shown.String(), stripURL(err))
	}
	defer resp.Body.Close()
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength))
	}
	_, rerr := buf.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return apiError(user, req.method, shown.String(), resp, buf.Bytes())
	}
	if rerr != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("user %s: %s %s: reading the answer: %w", user, req.method, shown.String(), stripURL(rerr))
	}
	body := buf.Bytes()
	if err := accept(body); err != nil {
		return fmt.Errorf("user %s: %s %s: bad answer: %w", user, req.method, shown.String(), err)
	}
	if c.archive != nil {
		if err := c.archive.write(user, req.key(), body); err != nil {
			return &permanentError{err}
		}
	}
	return nil
}

// stripURL removes the URL (which may hold a token in _headers) from a
// transport error.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// apiError builds an APIError from an answer other than 200.
func apiError(user, method, shown string, resp *http.Response, body []byte) *APIError {
	e := &APIError{User: user, Method: method, URL: shown, Status: resp.StatusCode}
	var env struct {
		Error struct {
			ErrorDetail string `json:"errorDetail"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error.ErrorDetail != "" {
		e.Detail = env.Error.ErrorDetail
	} else if len(body) > 0 {
		e.Detail = strings.TrimSpace(string(body[:min(len(body), 200)]))
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if secs, err := strconv.Atoi(ra); err == nil && secs >= 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			e.RetryAfter = max(0, time.Until(t))
		}
	}
	return e
}

// errNoRefresh says a 401 cannot be helped by a refresh.
var errNoRefresh = errors.New("no refresh token")

// token returns user's access token, refreshing it first when its expiry is
// known to have passed.
func (c *Client) token(ctx context.Context, user string) (*oauth2.Token, error) {
	if c.tokens == nil {
		return nil, fmt.Errorf("user %s: no token store", user)
	}
	tok, ok := c.tokens.Get(user)
	if !ok {
		return nil, fmt.Errorf("user %s: no token in %s: run `etl auth azumio` to log the user in", user, c.tokens.Path())
	}
	if !tok.Expiry.IsZero() && !tok.Valid() && tok.RefreshToken != "" {
		if err := c.refresh(ctx, user, tok); err != nil {
			return nil, err
		}
		tok, _ = c.tokens.Get(user)
	}
	return tok, nil
}

// refreshAfter401 refreshes user's token after the API rejected it, unless
// another request of the same user already did.
func (c *Client) refreshAfter401(ctx context.Context, user string) error {
	tok, ok := c.tokens.Get(user)
	if !ok || tok.RefreshToken == "" || c.cfg.ClientSecret == "" {
		return errNoRefresh
	}
	return c.refresh(ctx, user, tok)
}

// refresh exchanges user's refresh token for new tokens and stores them. The
// contract documents the token endpoint as a GET with query parameters, which
// golang.org/x/oauth2 (always a POST form) cannot send, so the exchange is made
// here; its answer is a standard OAuth 2.0 token.
func (c *Client) refresh(ctx context.Context, user string, stale *oauth2.Token) error {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	if cur, ok := c.tokens.Get(user); ok && cur.AccessToken != stale.AccessToken {
		return nil // refreshed meanwhile
	}
	tok, err := c.tokenRequest(ctx, url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {stale.RefreshToken},
	})
	if err != nil {
		return fmt.Errorf("user %s: refreshing the token: %w: %w", user, ErrUnauthorized, err)
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = stale.RefreshToken
	}
	if err := c.tokens.Put(user, tok); err != nil {
		return fmt.Errorf("user %s: saving the refreshed token: %w", user, err)
	}
	c.log.Info("azumio: token refreshed", "user", user)
	return nil
}

// tokenAnswer is the token endpoint's answer.
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
}

// tokenRequest calls the token endpoint with params plus the client's id and
// secret.
func (c *Client) tokenRequest(ctx context.Context, params url.Values) (*oauth2.Token, error) {
	params.Set("client_id", c.cfg.ClientID)
	params.Set("client_secret", c.cfg.ClientSecret)
	u := *c.base
	u.Path = c.base.Path + c.cfg.API.TokenPath
	u.RawQuery = params.Encode()
	shown := *c.base
	shown.Path = u.Path
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Client-ID", c.cfg.ClientID)
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", shown.String(), stripURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", shown.String(), err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, apiError("", http.MethodGet, shown.String(), resp, body)
	}
	var a tokenAnswer
	if err := json.Unmarshal(body, &a); err != nil || a.AccessToken == "" {
		return nil, fmt.Errorf("GET %s: answer is not an OAuth 2.0 token: %.200s", shown.String(), body)
	}
	tok := &oauth2.Token{AccessToken: a.AccessToken, TokenType: a.TokenType, RefreshToken: a.RefreshToken}
	if a.ExpiresIn > 0 {
		tok.Expiry = time.Now().Add(time.Duration(a.ExpiresIn) * time.Second).UTC().Round(time.Second)
	}
	return tok, nil
}

// oauthConfig describes the browser flow for golang.org/x/oauth2.
func (c *Client) oauthConfig(redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: c.cfg.ClientSecret,
		RedirectURL:  redirect,
		Endpoint: oauth2.Endpoint{
			AuthURL:   c.base.String() + c.cfg.API.AuthorizePath,
			TokenURL:  c.base.String() + c.cfg.API.TokenPath,
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// AuthCodeURL returns the URL that logs a user in (step 1 of the browser flow);
// the API sends the browser back to redirect with a code and state.
func (c *Client) AuthCodeURL(redirect, state string) string {
	return c.oauthConfig(redirect).AuthCodeURL(state)
}

// Exchange trades an authorization code for the user's token (step 3).
func (c *Client) Exchange(ctx context.Context, code, redirect string) (*oauth2.Token, error) {
	tok, err := c.tokenRequest(ctx, url.Values{
		"grant_type":   {"authorization_code"},
		"code":         {code},
		"redirect_uri": {redirect},
	})
	if err != nil {
		return nil, fmt.Errorf("azumio: exchanging the code: %w", err)
	}
	return tok, nil
}
