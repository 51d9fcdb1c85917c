package azumiotest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Changes says what Advance does to every user's check-ins.
type Changes struct {
	// New check-ins per user, of types drawn like the initial ones.
	New int
	// Edited check-ins per user: each gets a greater version (new values) and
	// the clock's time as modified.
	Edited int
	// Deleted check-ins per user: each becomes a tombstone, a new version with
	// "deleted": true.
	Deleted int
}

// Ref identifies one version of a check-in, as tests compare exports with it.
type Ref struct {
	User     string
	ID       string
	Version  int64
	Type     string
	Modified int64
	Deleted  bool
}

// Advance moves the clock forward by d and then applies c to every user: edits and
// deletions pick existing check-ins deterministically from the seed, never the
// same one twice in one call. Every change gets the new clock time as its
// modified. Users whose check-ins changed and who have a subscription get a
// webhook POST (see the package documentation) before Advance returns. It returns
// the new versions, in user order.
func (s *Server) Advance(d time.Duration, c Changes) []Ref {
	s.mu.Lock()
	s.now += d.Milliseconds()
	s.advances++
	var out []Ref
	for _, u := range s.users {
		out = append(out, s.changeUser(u, c)...)
	}
	s.mu.Unlock()
	s.notify(out)
	return out
}

// changeUser applies c to u; the caller holds mu.
func (s *Server) changeUser(u *user, c Changes) []Ref {
	var out []Ref
	ui := int64(u.index)
	picked := map[int64]bool{}
	pick := func(k int64) (record, bool) {
		live := 0
		for i := range u.recs {
			if !u.recs[i].deleted && !picked[u.recs[i].n] {
				live++
			}
		}
		if live == 0 {
			return record{}, false
		}
		want := int(s.hash(saltChange, ui, s.advances, k) % uint64(live))
		for i := range u.recs {
			r := u.recs[i]
			if r.deleted || picked[r.n] {
				continue
			}
			if want == 0 {
				picked[r.n] = true
				return r, true
			}
			want--
		}
		return record{}, false
	}
	for k := range c.Edited {
		r, ok := pick(int64(k))
		if !ok {
			break
		}
		out = append(out, s.editLocked(u, r, false))
	}
	for k := range c.Deleted {
		r, ok := pick(int64(c.Edited + k))
		if !ok {
			break
		}
		out = append(out, s.editLocked(u, r, true))
	}
	for k := range c.New {
		typ := int16(s.hash(saltType, ui, u.next, s.advances) % uint64(len(s.types)))
		out = append(out, s.addLocked(u, typ, int64(k)))
	}
	return out
}

func (s *Server) ref(u *user, r record) Ref {
	return Ref{User: u.id, ID: idOf(u.index, r.n), Version: r.version, Type: s.types[r.typ], Modified: r.modified, Deleted: r.deleted}
}

// editLocked stores a new version of r; the caller holds mu.
func (s *Server) editLocked(u *user, r record, deleted bool) Ref {
	r.version += 1 + int64(s.hash(saltChange, int64(u.index), r.n, r.version)%3)
	r.modified = s.now
	r.deleted = deleted
	if !deleted {
		// An edit moves the check-in's time a little, as a corrected entry does.
		r.stamp -= int64(s.hash(saltChange, int64(u.index), r.n, r.version) % 60_000)
	}
	u.put(r)
	return s.ref(u, r)
}

// addLocked adds a new check-in of type index typ; the caller holds mu.
func (s *Server) addLocked(u *user, typ int16, k int64) Ref {
	r := record{n: u.next, version: 1, modified: s.now, typ: typ}
	r.stamp = s.now - 60_000 - int64(s.hash(saltJitter, int64(u.index), r.n, k)%600_000)
	u.next++
	u.put(r)
	return s.ref(u, r)
}

// Add adds a check-in of typ (a type of the options, or any other name) to user
// at the clock's time, notifies a subscription and returns it.
func (s *Server) Add(userID, typ string) (Ref, error) {
	s.mu.Lock()
	u, ok := s.byID[userID]
	if !ok {
		s.mu.Unlock()
		return Ref{}, fmt.Errorf("azumiotest: no user %q", userID)
	}
	i := slices.Index(s.types, typ)
	if i < 0 {
		s.types = append(s.types, typ)
		i = len(s.types) - 1
	}
	ref := s.addLocked(u, int16(i), 0)
	s.mu.Unlock()
	s.notify([]Ref{ref})
	return ref, nil
}

// Edit gives check-in id of user a new version at the clock's time (deleted:
// a tombstone), notifies a subscription and returns the new version.
func (s *Server) Edit(userID, id string, deleted bool) (Ref, error) {
	s.mu.Lock()
	u, ok := s.byID[userID]
	ui, n, okID := parseID(id)
	i := -1
	if ok && okID && ui == u.index {
		i = u.find(n)
	}
	if i < 0 {
		s.mu.Unlock()
		return Ref{}, fmt.Errorf("azumiotest: user %q has no check-in %q", userID, id)
	}
	ref := s.editLocked(u, u.recs[i], deleted)
	s.mu.Unlock()
	s.notify([]Ref{ref})
	return ref, nil
}

// Checkins returns the current version of every check-in of user, in the order
// the API serves them (by modified, then id), tombstones included.
func (s *Server) Checkins(userID string) []Ref {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.byID[userID]
	if !ok {
		return nil
	}
	out := make([]Ref, len(u.recs))
	for i, r := range u.recs {
		out[i] = s.ref(u, r)
	}
	return out
}

// CheckinJSON returns the JSON the API serves for the current version of
// check-in id of user, or nil if there is none.
func (s *Server) CheckinJSON(userID, id string) []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.byID[userID]
	ui, n, okID := parseID(id)
	if !ok || !okID || ui != u.index {
		return nil
	}
	i := u.find(n)
	if i < 0 {
		return nil
	}
	r := u.recs[i]
	return s.appendCheckin(nil, u, &r, s.UnknownFields.Load())
}

// notify POSTs an empty body to the callback of every subscribed user that has a
// change among refs of a type the subscription names (every type if it names
// none), with user=<id> added to the callback's query.
func (s *Server) notify(refs []Ref) {
	type call struct{ user, url string }
	var calls []call
	s.mu.RLock()
	done := map[string]bool{}
	for _, ref := range refs {
		u := s.byID[ref.User]
		if u.sub == nil || done[u.id] {
			continue
		}
		if len(u.sub.Types) > 0 && !slices.Contains(u.sub.Types, ref.Type) {
			continue
		}
		done[u.id] = true
		calls = append(calls, call{u.id, u.sub.URL})
	}
	s.mu.RUnlock()
	for _, c := range calls {
		d := Delivery{User: c.user, URL: c.url}
		target, err := url.Parse(c.url)
		if err == nil {
			q := target.Query()
			q.Set("user", c.user)
			target.RawQuery = q.Encode()
			d.URL = target.String()
			var resp *http.Response
			resp, err = s.hc.Post(d.URL, "", bytes.NewReader(nil))
			if err == nil {
				d.Status = resp.StatusCode
				resp.Body.Close()
			}
		}
		d.Err = err
		s.mu.Lock()
		s.hooks = append(s.hooks, d)
		s.mu.Unlock()
	}
}
