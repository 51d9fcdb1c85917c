package asi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	json "github.com/goccy/go-json"

	"github.com/etl-toolkit/etl/core"
)

// Client calls the ASI REST API: every request carries a bearer token from its
// TokenSource, waits for the request rate limit, and is retried with
// exponential backoff after 429 (honouring Retry-After), 5xx and dropped
// connections. A 401 refreshes the token once and tries again. It is safe for
// concurrent use.
type Client struct {
	base    *url.URL
	hc      *http.Client
	tokens  TokenSource // nil: unauthenticated requests
	limiter core.Limiter
	retries int
	wait0   time.Duration
	log     *slog.Logger
	// skew is the server's clock minus ours, from the Date of the last answer.
	skew atomic.Int64
}

// TokenSource gives the access token for a request. Invalidate tells it that
// the server refused tok (401), so the next Token must not return it.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
	Invalidate(tok string)
}

// ClientOptions configure a Client.
type ClientOptions struct {
	// BaseURL is the service, e.g. DefaultBaseURL.
	BaseURL string
	// Tokens authenticates requests; nil sends none.
	Tokens TokenSource
	// HTTP is the client to use (default: one with a 1 minute timeout).
	HTTP *http.Client
	// Rate and Burst limit requests per second (default 10 and 10).
	Rate  float64
	Burst int
	// Retries is how often one request is retried (default 0: never).
	Retries int
	// RetryWait is the first wait between tries, doubled each time up to 10s
	// (default 200ms); a Retry-After header overrides it.
	RetryWait time.Duration
	// Logger receives retries and waits (default: discard).
	Logger *slog.Logger
	// Limiters makes the request-rate limiter (default core.LocalLimiters);
	// Budget names the budget it draws on (default: the base URL's host).
	Limiters core.Limiters
	Budget   string
}

// NewClient returns a client for opts.BaseURL.
func NewClient(opts ClientOptions) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(opts.BaseURL, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("asi: bad base URL %q", opts.BaseURL)
	}
	if opts.HTTP == nil {
		opts.HTTP = &http.Client{Timeout: time.Minute}
	}
	if opts.Rate <= 0 {
		opts.Rate = 10
	}
	if opts.Burst < 1 {
		opts.Burst = 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RetryWait <= 0 {
		opts.RetryWait = 200 * time.Millisecond
	}
	if opts.Limiters == nil {
		opts.Limiters = core.LocalLimiters
	}
	if opts.Budget == "" {
		opts.Budget = u.Host
	}
	return &Client{wait0: opts.RetryWait, base: u, hc: opts.HTTP, tokens: opts.Tokens, limiter: opts.Limiters("asi "+opts.Budget, opts.Rate, opts.Burst),
		retries: opts.Retries, log: opts.Logger}, nil
}

// BaseURL returns the service's base URL.
func (c *Client) BaseURL() string { return c.base.String() }

// Now returns the server's time: ours corrected by the Date of its last
// answer (our own before the first answer). Time frames are finished by the
// server's clock, which in the emulator is simulated.
func (c *Client) Now() time.Time { return time.Now().Add(time.Duration(c.skew.Load())) }

// APIError is an answer with an error status. Its text names the method, the
// URL (which never holds a secret) and the server's reason.
type APIError struct {
	Method string
	URL    string
	Status int
	// Detail is the server's explanation (its "detail" field, or the body).
	Detail string
	// RetryAfter is the wait a 429 or 503 asked for (0: none).
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("asi: %s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Temporary reports whether retrying may help: 408, 429 and 5xx.
func (e *APIError) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout || e.Status >= 500
}

// Unwrap lets backoff.Retry find the Retry-After wait.
func (e *APIError) Unwrap() []error {
	if e.RetryAfter > 0 {
		return []error{&backoff.RetryAfterError{Duration: e.RetryAfter}}
	}
	return nil
}

// IsStatus reports whether err is an APIError with the status code.
func IsStatus(err error, code int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == code
}

// url returns the absolute URL of path with query q.
func (c *Client) url(path string, q url.Values) string {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = q.Encode()
	return u.String()
}

// Do sends one request (body, if not nil, as JSON) and decodes a JSON answer
// into out (if not nil). Transient failures are retried; when retries run
// out the error wraps core.ErrTransient (with the wait a Retry-After asked
// for), so the runner retries the unit later. Other error statuses return an
// *APIError at once.
func (c *Client) Do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	raw, err := c.do(ctx, method, path, q, body)
	if err != nil || out == nil || len(raw) == 0 {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("asi: %s %s: decoding the answer: %w", method, c.url(path, q), err)
	}
	return nil
}

// Get returns the body of a GET answer.
func (c *Client) Get(ctx context.Context, path string, q url.Values) ([]byte, error) {
	return c.do(ctx, http.MethodGet, path, q, nil)
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, body any) ([]byte, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("asi: %s %s: %w", method, path, err)
		}
	}
	target := c.url(path, q)
	var (
		lastWait  time.Duration
		permanent bool
	)
	op := func() ([]byte, error) {
		raw, err := c.once(ctx, method, target, payload)
		var ae *APIError
		var pe *backoff.PermanentError
		switch {
		case err == nil:
			return raw, nil
		case errors.As(err, &pe):
			permanent = true
			return nil, err
		case ctx.Err() != nil, errors.As(err, &ae) && !ae.Temporary():
			permanent = true
			return nil, backoff.Permanent(err)
		}
		if errors.As(err, &ae) {
			lastWait = ae.RetryAfter
		}
		return nil, err
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = c.wait0
	bo.MaxInterval = 10 * time.Second
	raw, err := backoff.Retry(ctx, op,
		backoff.WithBackOff(bo),
		backoff.WithMaxTries(uint(c.retries)+1),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, wait time.Duration) {
			c.log.Warn("asi: request failed, retrying", "in", wait, "err", err)
			core.ReportStatus(ctx, fmt.Sprintf("waiting %s: %s", wait.Round(time.Millisecond), shortReason(err)))
		}))
	if err == nil {
		core.ReportStatus(ctx, "")
		return raw, nil
	}
	switch {
	case ctx.Err() != nil:
		// Stopping: say so, wrapping ctx's error (the runner checks for it).
		if !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		if !strings.Contains(err.Error(), target) {
			err = fmt.Errorf("asi: %s %s: %w", method, target, err)
		}
		return nil, err
	case permanent:
		return nil, err
	}
	// A request time-out (slow answer) is transient like a 5xx.
	return nil, core.Transient(err, lastWait)
}

// shortReason names a failure for a progress line.
func shortReason(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		if ae.Status == http.StatusTooManyRequests {
			return "rate limited (429)"
		}
		return fmt.Sprintf("server error (%d)", ae.Status)
	}
	return "connection failed"
}

// once sends the request once (twice after a 401: with a fresh token).
func (c *Client) once(ctx context.Context, method, target string, payload []byte) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		if err := c.wait(ctx); err != nil {
			return nil, fmt.Errorf("asi: %s %s: %w", method, target, err)
		}
		var tok string
		if c.tokens != nil {
			var err error
			if tok, err = c.tokens.Token(ctx); err != nil {
				if _, transient := core.RetryAfter(err); !transient {
					return nil, backoff.Permanent(err)
				}
				return nil, err
			}
		}
		var rd io.Reader
		if payload != nil {
			rd = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, target, rd)
		if err != nil {
			return nil, fmt.Errorf("asi: %s %s: %w", method, target, err)
		}
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("asi: %s %s: %w", method, target, stripURL(err))
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("asi: %s %s: reading the answer: %w", method, target, err)
		}
		if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			c.skew.Store(int64(time.Until(d)))
		}
		if resp.StatusCode == http.StatusUnauthorized && tok != "" && attempt == 0 {
			c.tokens.Invalidate(tok)
			continue
		}
		if resp.StatusCode >= 400 {
			return nil, &APIError{Method: method, URL: target, Status: resp.StatusCode, Detail: reason(raw),
				RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
		}
		return raw, nil
	}
}

// wait blocks until the rate limiter allows a request (saying so on the
// unit's status line when the wait is noticeable).
func (c *Client) wait(ctx context.Context) error { return c.limiter.Wait(ctx) }

// stripURL drops the URL net/http repeats in its errors (we name it once).
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// reason extracts the server's explanation from an error body.
func reason(raw []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) == nil {
		for _, k := range []string{"detail", "error_description", "error"} {
			var s string
			if json.Unmarshal(m[k], &s) == nil && s != "" {
				return s
			}
		}
	}
	s := strings.Join(strings.Fields(string(raw)), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// page is one answer of a paginated list. Results stay raw and are split
// without copying each result (a page of history is megabytes).
type page struct {
	Count   int             `json:"count"`
	Next    json.RawMessage `json:"next"`
	Results json.RawMessage `json:"results"`
}

// List calls fn with the results of every page of the list at path, from
// page 1 on, limit results at a time. An answer that is a bare JSON array is
// taken as the only page.
func (c *Client) List(ctx context.Context, path string, q url.Values, limit int, fn func(results []json.RawMessage) error) error {
	return c.ListFrom(ctx, path, q, limit, 1, func(_ int, results []json.RawMessage, _ bool) error { return fn(results) })
}

// ListFrom is List starting at page first; fn also gets the page number and
// whether it is the last page.
func (c *Client) ListFrom(ctx context.Context, path string, q url.Values, limit, first int, fn func(n int, results []json.RawMessage, last bool) error) error {
	q = cloneValues(q)
	for n := first; ; n++ {
		q.Set("page", strconv.Itoa(n))
		q.Set("limit", strconv.Itoa(limit))
		raw, err := c.Get(ctx, path, q)
		if err != nil {
			return err
		}
		if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
			all, ok := splitArray(t)
			if !ok {
				return fmt.Errorf("asi: GET %s: the list is not a JSON array", c.url(path, q))
			}
			return fn(n, all, true)
		}
		var p page
		if err := json.Unmarshal(raw, &p); err != nil {
			return fmt.Errorf("asi: GET %s: decoding the page: %w", c.url(path, q), err)
		}
		results, ok := splitArray(p.Results)
		if string(bytes.TrimSpace(p.Results)) == "null" || len(p.Results) == 0 {
			results, ok = nil, true
		}
		if !ok {
			return fmt.Errorf("asi: GET %s: the page's results are not a JSON array", c.url(path, q))
		}
		last := len(p.Next) == 0 || string(p.Next) == "null"
		if err := fn(n, results, last); err != nil {
			return err
		}
		if last {
			return nil
		}
	}
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// expand fills a path's {name} placeholders.
func expand(path string, kv ...any) string {
	for i := 0; i+1 < len(kv); i += 2 {
		path = strings.ReplaceAll(path, "{"+fmt.Sprint(kv[i])+"}", url.PathEscape(fmt.Sprint(kv[i+1])))
	}
	return path
}
