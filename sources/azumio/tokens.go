package azumio

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"golang.org/x/oauth2"
)

// Tokens is the per-user token store: a JSON file, readable by its owner only,
//
//	{"users": {"10001": {"access_token": "...", "token_type": "OAuth",
//	                     "refresh_token": "...", "expiry": "2026-01-01T00:00:00Z"}}}
//
// (each entry is an oauth2.Token). `etl auth azumio` adds users to it; the source
// writes rotated tokens back after a refresh. Every write re-reads the file and
// replaces it atomically (temporary file, fsync, rename), so a concurrent
// `etl auth azumio` adding another user is not lost and a crash never leaves a
// half-written file. Safe for concurrent use.
type Tokens struct {
	path  string // "" for a store in memory only
	mu    sync.Mutex
	users map[string]*oauth2.Token
}

type tokensFile struct {
	Users map[string]*oauth2.Token `json:"users"`
}

// OpenTokens reads the tokens file at path. A missing file is an error that says
// how to create one.
func OpenTokens(path string) (*Tokens, error) {
	t := &Tokens{path: path}
	users, err := readTokens(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("azumio: tokens file %s does not exist: run `etl auth azumio` to log users in", path)
	}
	if err != nil {
		return nil, err
	}
	t.users = users
	return t, nil
}

// NewTokens returns an empty store that writes to path on the first Put (the file
// need not exist; an existing one is merged on every write), or a store in memory
// only if path is "".
func NewTokens(path string) *Tokens {
	return &Tokens{path: path, users: map[string]*oauth2.Token{}}
}

func readTokens(path string) (map[string]*oauth2.Token, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("azumio: tokens: %w", err)
	}
	var f tokensFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("azumio: tokens file %s: %w (want {\"users\": {\"<user id>\": {\"access_token\": ...}}})", path, err)
	}
	if f.Users == nil {
		f.Users = map[string]*oauth2.Token{}
	}
	for u, tok := range f.Users {
		if tok == nil || tok.AccessToken == "" {
			return nil, fmt.Errorf("azumio: tokens file %s: user %q has no access_token", path, u)
		}
	}
	return f.Users, nil
}

// Path returns the file the store writes to ("" in memory only).
func (t *Tokens) Path() string { return t.path }

// Users returns the user ids with a token, sorted.
func (t *Tokens) Users() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.users))
	for u := range t.users {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// Get returns a copy of user's token.
func (t *Tokens) Get(user string) (*oauth2.Token, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tok, ok := t.users[user]
	if !ok {
		return nil, false
	}
	c := *tok
	return &c, true
}

// Put stores user's token and, for a file-backed store, writes the file: it
// re-reads the file, sets the user's entry and replaces the file atomically with
// mode 0600.
func (t *Tokens) Put(user string, tok *oauth2.Token) error {
	c := *tok
	t.mu.Lock()
	defer t.mu.Unlock()
	t.users[user] = &c
	if t.path == "" {
		return nil
	}
	users, err := readTokens(t.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		users = map[string]*oauth2.Token{}
	case err != nil:
		return err
	}
	users[user] = &c
	for u, tk := range users {
		if _, mine := t.users[u]; !mine {
			t.users[u] = tk // another process added this user
		}
	}
	return writeTokens(t.path, users)
}

// writeTokens replaces the file at path with users, atomically, mode 0600.
func writeTokens(path string, users map[string]*oauth2.Token) error {
	raw, err := json.MarshalIndent(tokensFile{Users: users}, "", "  ")
	if err != nil {
		return fmt.Errorf("azumio: tokens: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("azumio: tokens: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("azumio: tokens: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("azumio: tokens: %w", err)
	}
	if _, err := f.Write(append(raw, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("azumio: tokens: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("azumio: tokens: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("azumio: tokens: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("azumio: tokens: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
