package asitest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// authState holds the OAuth 2.0 server's tokens, codes and browser sessions.
// Tokens expire on the real clock, since clients check expiry against it.
type authState struct {
	access   map[string]*grant
	refresh  map[string]*grant
	codes    map[string]*authCode
	sessions map[string]int64 // browser session cookie -> user id
}

type grant struct {
	user    int64
	access  string
	refresh string
	expires time.Time
	revoked bool
}

type authCode struct {
	user        int64
	redirectURI string
	expires     time.Time
}

func newAuthState() *authState {
	return &authState{access: map[string]*grant{}, refresh: map[string]*grant{},
		codes: map[string]*authCode{}, sessions: map[string]int64{}}
}

// codeLifetime is how long an authorization code may be exchanged.
const codeLifetime = time.Minute

const sessionCookie = "asi_emulator_session"

func randomToken() string {
	b := make([]byte, 20)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// issue makes a new token pair for user u; s.mu is held.
func (s *Server) issue(u int64) *grant {
	g := &grant{user: u, access: randomToken(), refresh: randomToken(), expires: time.Now().Add(s.lifetime)}
	s.auth.access[g.access], s.auth.refresh[g.refresh] = g, g
	return g
}

// Token is a token pair issued by IssueToken.
type Token struct {
	AccessToken  string
	RefreshToken string
	Expiry       time.Time
}

// IssueToken logs username in without a client, as if through the password
// grant, and returns the token pair: ready credentials for `etl emulate asi`
// and for tests.
func (s *Server) IssueToken(username string) (Token, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.w.byName[username]
	if !ok {
		return Token{}, false
	}
	g := s.issue(u.ID)
	s.count(func(st *Stats) { st.Grants["password"]++ })
	return Token{AccessToken: g.access, RefreshToken: g.refresh, Expiry: g.expires}, true
}

// authenticate returns the user of r's bearer token; s.mu is held. The reason
// says what is wrong when there is none.
func (s *Server) authenticate(r *http.Request) (*user, string) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, "Authentication credentials were not provided."
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return nil, "Authentication credentials were not provided (want Authorization: Bearer <access token>)."
	}
	g, ok := s.auth.access[tok]
	switch {
	case !ok, g.revoked:
		return nil, "Invalid token."
	case time.Now().After(g.expires):
		return nil, "The access token expired."
	}
	return s.w.users[g.user], ""
}

// clientOK checks the client's HTTP Basic credentials.
func clientOK(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	// RFC 6749 §2.3.1: the client id and secret are form-encoded first.
	if u, err := url.QueryUnescape(id); err == nil {
		id = u
	}
	if u, err := url.QueryUnescape(secret); err == nil {
		secret = u
	}
	return ok && subtle.ConstantTimeCompare([]byte(id), []byte(ClientID)) == 1 &&
		subtle.ConstantTimeCompare([]byte(secret), []byte(ClientSecret)) == 1
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// token is /oauth2/token/: the password, authorization_code and refresh_token
// grants, with the client authenticated by HTTP Basic. Refreshing rotates the
// refresh token and revokes the old pair.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if !clientOK(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="oauth2"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed (HTTP Basic with the client id and secret)")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "bad form body")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	gt := r.PostForm.Get("grant_type")
	var uid int64
	switch gt {
	case "password":
		u, ok := s.w.byName[r.PostForm.Get("username")]
		if !ok || subtle.ConstantTimeCompare([]byte(u.Password), []byte(r.PostForm.Get("password"))) != 1 {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid credentials given.")
			return
		}
		uid = u.ID
	case "authorization_code":
		c, ok := s.auth.codes[r.PostForm.Get("code")]
		if ok {
			delete(s.auth.codes, r.PostForm.Get("code")) // single use
		}
		switch {
		case !ok || time.Now().After(c.expires):
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid or expired authorization code.")
			return
		case r.PostForm.Get("redirect_uri") != c.redirectURI:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Mismatching redirect URI.")
			return
		}
		uid = c.user
	case "refresh_token":
		old, ok := s.auth.refresh[r.PostForm.Get("refresh_token")]
		if !ok || old.revoked {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid refresh token.")
			return
		}
		old.revoked = true
		delete(s.auth.refresh, old.refresh)
		uid = old.user
	case "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "Missing grant_type.")
		return
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant type "+gt+".")
		return
	}
	g := s.issue(uid)
	s.count(func(st *Stats) { st.Grants[gt]++ })
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  g.access,
		"token_type":    "Bearer",
		"expires_in":    int64((s.lifetime + time.Second - 1) / time.Second),
		"refresh_token": g.refresh,
		"scope":         "all",
	})
}

// revoke is /oauth2/revoke-token/ (RFC 7009): revoking either token of a pair
// revokes both. Unknown tokens are not an error.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if !clientOK(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="oauth2"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed (HTTP Basic with the client id and secret)")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "bad form body")
		return
	}
	tok := r.PostForm.Get("token")
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.auth.access[tok]
	if !ok {
		g, ok = s.auth.refresh[tok]
	}
	if ok && !g.revoked {
		g.revoked = true
		delete(s.auth.refresh, g.refresh)
		s.count(func(st *Stats) { st.Revoked++ })
	}
	w.WriteHeader(http.StatusOK)
}

// redirectAllowed accepts loopback redirect URIs on any port (RFC 8252 §7.3),
// which is what command-line clients use.
func redirectAllowed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Fragment != "" {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var authorizePage = template.Must(template.New("authorize").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>ASI API emulator: authorize</title></head>
<body>
<h1>ASI API (emulator)</h1>
{{if .Error}}<p class="error">{{.Error}}</p>{{end}}
{{if .User}}
<p>Logged in as <b>{{.User}}</b>.</p>
<p>The application <b>{{.Client}}</b> asks to access your data (scope <code>all</code>).</p>
<form method="post" action="/oauth2/authorize/">
{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<button type="submit" name="action" value="allow">Authorize</button>
<button type="submit" name="action" value="deny">Deny</button>
</form>
{{else}}
<p>Log in to let <b>{{.Client}}</b> access your data.</p>
<form method="post" action="/oauth2/authorize/">
{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit" name="action" value="login">Log in</button>
</form>
{{end}}
</body></html>
`))

// authorizeParams are the query parameters the authorize page carries through
// its forms.
var authorizeParams = []string{"response_type", "client_id", "redirect_uri", "state", "scope"}

// authorize is /oauth2/authorize/: a login form, then an Authorize/Deny form;
// allowing redirects to redirect_uri with a single-use code and the state.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	params := map[string]string{}
	for _, k := range authorizeParams {
		params[k] = r.Form.Get(k)
	}
	if params["client_id"] != ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	redirect := params["redirect_uri"]
	if !redirectAllowed(redirect) {
		http.Error(w, "redirect_uri not allowed (the emulator accepts http loopback URIs)", http.StatusBadRequest)
		return
	}
	back := func(q url.Values) {
		q.Set("state", params["state"])
		u, _ := url.Parse(redirect)
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	}
	if params["response_type"] != "code" {
		back(url.Values{"error": {"unsupported_response_type"}})
		return
	}
	if p := params["scope"]; p != "" && p != "all" {
		back(url.Values{"error": {"invalid_scope"}})
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var u *user
	if c, err := r.Cookie(sessionCookie); err == nil {
		u = s.w.users[s.auth.sessions[c.Value]]
	}
	page := struct {
		Client, User, Error string
		Params              map[string]string
	}{Client: params["client_id"], Params: params}
	if r.Method == http.MethodPost {
		switch r.PostForm.Get("action") {
		case "login":
			cand, ok := s.w.byName[r.PostForm.Get("username")]
			if !ok || subtle.ConstantTimeCompare([]byte(cand.Password), []byte(r.PostForm.Get("password"))) != 1 {
				page.Error = "Wrong username or password."
				break
			}
			sid := randomToken()
			s.auth.sessions[sid] = cand.ID
			http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sid, Path: "/oauth2/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
			u = cand
		case "allow":
			if u == nil {
				page.Error = "Log in first."
				break
			}
			code := randomToken()
			s.auth.codes[code] = &authCode{user: u.ID, redirectURI: redirect, expires: time.Now().Add(codeLifetime)}
			back(url.Values{"code": {code}})
			return
		case "deny":
			back(url.Values{"error": {"access_denied"}})
			return
		}
	}
	if u != nil {
		page.User = u.Username
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	authorizePage.Execute(w, page)
}
