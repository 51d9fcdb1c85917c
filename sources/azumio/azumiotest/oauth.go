package azumiotest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// serveAuthorize is step 1 of the browser flow. The emulator has no login page:
// it logs in the user set by SetAuthorizeUser (the first user by default) and
// redirects at once to redirect_uri with a one-time code and the caller's state.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.counts["authorize"]++
	s.mu.Unlock()
	q := r.URL.Query()
	if q.Get("client_id") != s.opts.ClientID {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("com.azumio.hci.AuthorizationException: unknown client_id %q", q.Get("client_id")))
		return
	}
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || back.Scheme == "" || back.Host == "" {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("com.azumio.hci.BadRequestException: redirect_uri must be an absolute URL, got %q", q.Get("redirect_uri")))
		return
	}
	s.mu.Lock()
	s.gen++
	code := fmt.Sprintf("code-%d-%016x", s.gen, s.hash(saltToken, s.gen, 7, 0))
	s.codes[code] = s.authorize
	s.mu.Unlock()
	bq := back.Query()
	bq.Set("code", code)
	if st := q.Get("state"); st != "" {
		bq.Set("state", st)
	}
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// serveToken is step 3 of the browser flow and the refresh of a token. It takes
// its parameters from the query (GET, as the contract documents) or a form body
// (POST, as OAuth 2.0 clients send them): grant_type authorization_code with code,
// or refresh_token with refresh_token, plus client_id and client_secret. A
// refresh rotates the tokens: the old refresh token and the old access token stop
// working.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.counts["token"]++
	s.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		apiError(w, http.StatusBadRequest, "com.azumio.hci.BadRequestException: "+err.Error())
		return
	}
	f := r.Form
	if f.Get("client_id") != s.opts.ClientID || f.Get("client_secret") != s.opts.ClientSecret {
		apiError(w, http.StatusUnauthorized, "com.azumio.hci.AuthorizationException: bad client_id or client_secret")
		return
	}
	s.mu.Lock()
	var t Token
	switch f.Get("grant_type") {
	case "authorization_code":
		user, ok := s.codes[f.Get("code")]
		if !ok {
			s.mu.Unlock()
			apiError(w, http.StatusBadRequest, "com.azumio.hci.AuthorizationException: unknown or used code")
			return
		}
		delete(s.codes, f.Get("code"))
		t = s.issue(user)
	case "refresh_token":
		old := f.Get("refresh_token")
		user, ok := s.refresh[old]
		if !ok {
			s.mu.Unlock()
			apiError(w, http.StatusBadRequest, "com.azumio.hci.AuthorizationException: unknown or used refresh_token")
			return
		}
		delete(s.refresh, old)
		for tok := range s.tokens {
			if tokenGen(tok) == tokenGen(old) && strings.HasPrefix(tok, "at-"+user+"-") {
				delete(s.tokens, tok)
			}
		}
		t = s.issue(user)
	default:
		s.mu.Unlock()
		apiError(w, http.StatusBadRequest, fmt.Sprintf("com.azumio.hci.BadRequestException: unsupported grant_type %q", f.Get("grant_type")))
		return
	}
	s.mu.Unlock()
	raw, _ := json.Marshal(t)
	writeJSON(w, raw)
}

// subscription is one user's webhook registration.
type subscription struct {
	ID       string   `json:"id"`
	Created  int64    `json:"created"`
	UserID   string   `json:"userId"`
	Types    []string `json:"types"`
	ClientID string   `json:"clientId"`
	URL      string   `json:"url"`
}

func (s *Server) writeSubscriptions(w http.ResponseWriter, u *user) {
	data := []subscription{}
	if u.sub != nil {
		data = append(data, *u.sub)
	}
	raw, _ := json.Marshal(map[string]any{"data": data})
	writeJSON(w, raw)
}

func (s *Server) serveSubscriptions(w http.ResponseWriter, r *http.Request, userID string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.writeSubscriptions(w, s.byID[userID])
}

// subscribe registers (or replaces) the user's callback: POST
// /api2/subscriptions?url=<callback>&type=steps,sleeptime.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request, userID string) {
	q := r.URL.Query()
	cb, err := url.Parse(q.Get("url"))
	if err != nil || (cb.Scheme != "http" && cb.Scheme != "https") || cb.Host == "" {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("com.azumio.hci.BadRequestException: url must be an http(s) URL, got %q", q.Get("url")))
		return
	}
	var types []string
	for _, t := range strings.Split(q.Get("type"), ",") {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.byID[userID]
	u.sub = &subscription{
		ID:       s.opts.ClientID + "_" + strconv.Itoa(34546321+u.index),
		Created:  s.now,
		UserID:   u.id,
		Types:    types,
		ClientID: s.opts.ClientID,
		URL:      cb.String(),
	}
	s.writeSubscriptions(w, u)
}

// unsubscribe removes the user's subscription; with url= only if it names it.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.byID[userID]
	if want := r.URL.Query().Get("url"); u.sub == nil || (want != "" && want != u.sub.URL) {
		apiError(w, http.StatusNotFound, "com.azumio.hci.NotFoundException: no such subscription")
		return
	}
	u.sub = nil
	s.writeSubscriptions(w, u)
}

// Subscribed returns user's subscription callback URL and types ("" if none).
func (s *Server) Subscribed(userID string) (callback string, types []string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if u, ok := s.byID[userID]; ok && u.sub != nil {
		return u.sub.URL, slices.Clone(u.sub.Types)
	}
	return "", nil
}

// ExpireTokens moves the clock past every token's expiry (when Options.TokenTTL
// is set), without changing any check-in.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now += s.opts.TokenTTL.Milliseconds() + time.Second.Milliseconds()
}
