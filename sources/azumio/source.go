package azumio

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/oauth2"
	"golang.org/x/sync/errgroup"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

func init() {
	core.RegisterSource("azumio", core.Factory[core.Source]{
		Doc:     "Azumio check-ins (one stream per type), their fragments and user profiles, incrementally per user; base_url: emulator runs against the in-process emulator",
		Options: Config{},
		New:     newFromEnv,
	})
}

// DecodeConfig decodes a pipeline's `config:` section of the azumio source onto
// DefaultConfig and checks it, reporting every problem at once with its place in
// the file. The CLI uses it to read the source's settings from a pipeline file.
func DecodeConfig(c core.Config) (Config, error) {
	cfg := DefaultConfig()
	if err := c.Decode(&cfg); err != nil {
		return cfg, err
	}
	var raw map[string]any
	_ = c.Decode(&raw) // only to see which keys are there; Decode above reported problems
	_, emulatorSet := raw["emulator"]
	report := func(key, format string, args ...any) error { return c.Errorf(key, format, args...) }
	var errs core.ConfigErrors
	for _, err := range cfg.check(report, emulatorSet) {
		errs.Add(err)
	}
	return cfg, errs.Err()
}

func newFromEnv(_ context.Context, env core.Env) (core.Source, error) {
	cfg, err := DecodeConfig(env.Config)
	if err != nil {
		return nil, err
	}
	return newSource(cfg, sourceOptions{mem: memory.DefaultAllocator, log: env.Logger, dead: env.DeadLetters, limiters: env.Limiter}), nil
}

// Option adjusts a Source built by NewSource.
type Option func(*sourceOptions)

type sourceOptions struct {
	mem  memory.Allocator
	log  *slog.Logger
	dead core.DeadLetters
	hc   *http.Client
	// limiters makes the API client's rate limiter (nil: core.LocalLimiters).
	limiters core.Limiters
}

// WithAllocator makes the source allocate its records from mem.
func WithAllocator(mem memory.Allocator) Option { return func(o *sourceOptions) { o.mem = mem } }

// WithDeadLetters sends check-ins and fragments that cannot be exported to dl.
// Without it, such a record fails its unit instead.
func WithDeadLetters(dl core.DeadLetters) Option { return func(o *sourceOptions) { o.dead = dl } }

// WithSourceLogger sets the source's logger.
func WithSourceLogger(l *slog.Logger) Option { return func(o *sourceOptions) { o.log = l } }

// WithSourceHTTPClient makes the source send its requests through hc.
func WithSourceHTTPClient(hc *http.Client) Option { return func(o *sourceOptions) { o.hc = hc } }

// WithSourceLimiters makes the source's API client take its request-rate
// limiter from l (default core.LocalLimiters).
func WithSourceLimiters(l core.Limiters) Option {
	return func(o *sourceOptions) { o.limiters = l }
}

// Source is the azumio source; see the package documentation. It does no I/O
// until Units, Read or Check is called. Safe for concurrent use.
type Source struct {
	cfg  Config
	opts sourceOptions

	startOnce sync.Once
	startErr  error
	client    *Client
	emu       *azumiotest.Server
	units     []string
	types     string // the type parameter ("" for every type)
}

var _ core.Source = (*Source)(nil)

// NewSource checks cfg and builds a source. It returns every problem of cfg at
// once, joined.
func NewSource(cfg Config, opts ...Option) (*Source, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	o := sourceOptions{mem: memory.DefaultAllocator}
	for _, f := range opts {
		f(&o)
	}
	return newSource(cfg, o), nil
}

func newSource(cfg Config, o sourceOptions) *Source {
	if o.mem == nil {
		o.mem = memory.DefaultAllocator
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	return &Source{cfg: cfg, opts: o, types: strings.Join(cfg.Types, ",")}
}

// start connects: it starts the emulator (base_url: emulator), opens the tokens
// file (or the archive to replay) and lists the units.
func (s *Source) start() error {
	s.startOnce.Do(func() { s.startErr = s.doStart() })
	return s.startErr
}

func (s *Source) doStart() error {
	cfg := s.cfg
	var tokens *Tokens
	var users []string
	switch {
	case cfg.Replay != "":
		c, err := NewClient(cfg, nil, WithLogger(s.opts.log))
		if err != nil {
			return err
		}
		s.client = c
		if users, err = c.replay.Users(); err != nil {
			return err
		}
	case cfg.IsEmulator():
		e := cfg.Emulator
		emu := azumiotest.New(azumiotest.Options{Seed: e.Seed, Users: e.Users, Checkins: e.Checkins, NoCheckins: e.Checkins == 0})
		if err := emu.Start("127.0.0.1:0"); err != nil {
			return err
		}
		s.emu = emu
		cfg.BaseURL, cfg.ClientID, cfg.ClientSecret = emu.URL(), emu.ClientID(), emu.ClientSecret()
		tokens = NewTokens("")
		for u, t := range emu.Tokens() {
			tokens.Put(u, &oauth2.Token{AccessToken: t.AccessToken, TokenType: t.TokenType, RefreshToken: t.RefreshToken})
		}
		s.opts.log.Info("azumio: started the in-process emulator", "url", emu.URL(), "users", e.Users, "checkins_per_user", e.Checkins, "seed", e.Seed)
	default:
		var err error
		if tokens, err = OpenTokens(cfg.Tokens); err != nil {
			return err
		}
	}
	if tokens != nil {
		c, err := NewClient(cfg, tokens, WithLogger(s.opts.log), WithHTTPClient(s.opts.hc), WithLimiters(s.opts.limiters))
		if err != nil {
			return err
		}
		s.client = c
		users = tokens.Users()
	}
	if len(cfg.Users) > 0 {
		// A listed user without a token is still a unit: its read fails with a
		// message naming it, and the others go on.
		users = cfg.Users
	}
	for _, u := range users {
		s.units = append(s.units, "user/"+u)
	}
	return nil
}

// Units returns user/<id> for every user of the tokens file (or of the archive
// being replayed, or of the emulator), or of the users option.
func (s *Source) Units(context.Context) ([]string, error) {
	if err := s.start(); err != nil {
		return nil, err
	}
	return slices.Clone(s.units), nil
}

// Check connects and reads the first user's profile, so that `etl run --dry-run`
// finds a wrong URL, client id or token before a run.
func (s *Source) Check(ctx context.Context) error {
	if err := s.start(); err != nil {
		return err
	}
	if len(s.units) == 0 {
		return errors.New("azumio: no users: run `etl auth azumio` to log users in")
	}
	user := strings.TrimPrefix(s.units[0], "user/")
	return s.client.do(ctx, user, request{method: http.MethodGet, path: s.cfg.API.ProfilePath}, nil, func([]byte) error { return nil })
}

// Ack does nothing: the source holds nothing that committed rows release (the
// archive, when kept, is kept whole).
func (s *Source) Ack(context.Context, string, core.Position) error { return nil }

// Close stops the in-process emulator and flushes the archive.
func (s *Source) Close() error {
	var errs []error
	if s.client != nil {
		errs = append(errs, s.client.Close())
	}
	if s.emu != nil {
		errs = append(errs, s.emu.Close())
	}
	return errors.Join(errs...)
}

// Client returns the source's API client once Units or Check has run (nil
// before), for tools that share the source's settings.
func (s *Source) Client() *Client { return s.client }

// Read exports one user from position from; see the package documentation for
// what it emits and in which order. It returns nil when the user's check-ins are
// exhausted (the API says hasMore false). Errors: ctx's (wrapped) when cancelled;
// transient ones (core.ErrTransient) after the retries of a request run out;
// permanent ones for a rejected token, a page the cursor cannot pass, or a
// request the API refuses, each naming the user and the URL.
func (s *Source) Read(ctx context.Context, unit string, from core.Position, emit core.Emit) error {
	if err := s.start(); err != nil {
		return err
	}
	user, ok := strings.CutPrefix(unit, "user/")
	if !ok || user == "" {
		return fmt.Errorf("azumio: unknown unit %q (want user/<id>)", unit)
	}
	pos, err := decodePosition(from)
	if err != nil {
		return fmt.Errorf("azumio: unit %s: %w", unit, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("azumio: unit %s: %w", unit, err)
	}
	r := &reader{
		s: s, user: user, unit: unit, emit: emit, pos: pos,
		streams: map[string]*checkinStream{}, frags: map[string]*fragmentStream{},
	}
	r.page.deletedKey = s.cfg.API.DeletedField
	defer r.release()
	err = r.run(ctx)
	if cerr := s.client.endUser(user); err == nil {
		err = cerr
	}
	return err
}

// reader is one Read of one user.
type reader struct {
	s          *Source
	user, unit string
	emit       core.Emit
	pos        position // position of the last emitted batch (or from)
	page       page
	buf        bytes.Buffer
	streams    map[string]*checkinStream
	frags      map[string]*fragmentStream
	// seen is exportPage's map of the check-ins exported, emptied and
	// reused by each page: making a map of a page's thousand ids afresh
	// cost 3% of a replay's CPU time (makemap and growth).
	seen map[string]int64
}

func (r *reader) release() {
	for _, cs := range r.streams {
		cs.release()
	}
	for _, fs := range r.frags {
		fs.release()
	}
}

func (r *reader) send(ctx context.Context, stream string, rec arrow.RecordBatch, pos position) error {
	if err := r.emit(ctx, core.Batch{Stream: stream, Unit: r.unit, Record: rec, Position: pos.encode()}); err != nil {
		return err
	}
	r.pos = pos
	return nil
}

// reject sends a record that cannot be exported to the dead letters, or fails
// the unit when there are none.
func (r *reader) reject(ctx context.Context, stream, reason string, value []byte) error {
	if r.s.opts.dead == nil {
		return fmt.Errorf("azumio: user %s: %s: %s", r.user, stream, reason)
	}
	return r.s.opts.dead.Reject(ctx, core.DeadLetter{Stream: stream, Unit: r.unit, Component: "azumio", Reason: reason, Value: bytes.Clone(value)})
}

func (r *reader) run(ctx context.Context) error {
	if r.s.cfg.Profile {
		if err := r.profile(ctx); err != nil {
			return err
		}
	}
	if len(r.pos.Pending) > 0 {
		if err := r.fragments(ctx); err != nil {
			return err
		}
	}
	return r.checkins(ctx)
}

// profile emits the user's profile when it differs from the one last exported.
func (r *reader) profile(ctx context.Context) error {
	var body []byte
	err := r.s.client.do(ctx, r.user, request{method: http.MethodGet, path: r.s.cfg.API.ProfilePath}, &r.buf, func(b []byte) error {
		s := scanner{b: b}
		if _, err := s.value(); err != nil {
			return err
		}
		if err := s.end(); err != nil {
			return err
		}
		body = bytes.Clone(b)
		return nil
	})
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:8])
	if hash == r.pos.Profile {
		return nil
	}
	ps := newProfileStream(r.s.opts.mem)
	defer ps.release()
	if err := ps.add(r.user, body); err != nil {
		if err := r.reject(ctx, streamProfile, "profile is not a JSON object: "+err.Error(), body); err != nil {
			return err
		}
	}
	next := r.pos
	next.Profile = hash
	return r.send(ctx, streamProfile, ps.rb.NewRecordBatch(), next)
}

// streamName makes a type or fragment name safe inside a stream name (sinks
// name directories after streams).
func streamName(s string) string {
	ok := true
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			ok = false
			break
		}
	}
	if ok && s != "" {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return "_" + string(b)
}

func (r *reader) checkinStream(typ string) *checkinStream {
	cs, ok := r.streams[typ]
	if !ok {
		typ = strings.Clone(typ) // it refers to the page's body
		cs = newCheckinStream(r.s.opts.mem, typ)
		cs.stream = streamCheckins + streamName(typ)
		r.streams[typ] = cs
	}
	return cs
}

// checkins pages through the user's check-ins from r.pos (see "Positions" in
// the package documentation).
func (r *reader) checkins(ctx context.Context) error {
	api := r.s.cfg.API
	limit := api.PageSize
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("azumio: user %s: %w", r.user, err)
		}
		req := r.checkinsRequest(r.pos.Since, limit)
		q := req.query
		if err := r.s.client.do(ctx, r.user, req, &r.buf, r.page.decode); err != nil {
			return err
		}
		p := &r.page
		n := len(p.items)

		// The cursor after the page: its greatest modified.
		since := r.pos.Since
		newSince := since
		for i := range n {
			if _, _, m, ok := p.identity(i); ok {
				newSince = max(newSince, m)
			}
		}
		if p.hasMore && newSince == since {
			// Every check-in of the page is at since: asking again with the
			// same since would return the same page forever.
			if n >= limit && limit < api.MaxPageSize {
				limit = min(limit*2, api.MaxPageSize)
				r.s.opts.log.Debug("azumio: page at one modified instant; widening", "user", r.user, "since", since, "limit", limit)
				continue
			}
			at := arrow.Timestamp(since).ToTime(arrow.Millisecond).UTC().Format("2006-01-02T15:04:05.000Z")
			if n >= limit {
				return fmt.Errorf("azumio: user %s: more than %d check-ins share modified=%d (%s): the API pages only by modified, so %s=%d cannot move past them; the user's cursor stays at since=%d (raise api.max_page_size if the service serves larger pages)",
					r.user, api.MaxPageSize, since, at, api.SinceParam, since, since)
			}
			return fmt.Errorf("azumio: user %s: GET %s?%s answered hasMore with %d check-ins, none past modified=%d (%s): the cursor cannot move",
				r.user, api.CheckinsPath, q.Encode(), n, since, at)
		}

		if err := r.exportPage(ctx, since, newSince); err != nil {
			return err
		}
		limit = api.PageSize
		if !p.hasMore {
			// Replaying the archive of several runs: go on where a later
			// run went on, if it did.
			if rp := r.s.client.replay; rp != nil && rp.unused(r.user, r.checkinsRequest(r.pos.Since, limit).key()) {
				continue
			}
			return nil
		}
	}
}

// checkinsRequest is the request of the check-ins page from since.
func (r *reader) checkinsRequest(since int64, limit int) request {
	api := r.s.cfg.API
	q := url.Values{}
	if r.s.types != "" {
		q.Set(api.TypeParam, r.s.types)
	}
	q.Set(api.SinceParam, strconv.FormatInt(since, 10))
	q.Set(api.LimitParam, strconv.Itoa(limit))
	return request{method: http.MethodGet, path: api.CheckinsPath, query: q}
}

// exportPage emits the new check-ins of the page just decoded, grouped by type,
// each group followed by its fragments, and leaves r.pos at the page's end.
func (r *reader) exportPage(ctx context.Context, since, newSince int64) error {
	p := &r.page
	if r.seen == nil {
		r.seen = make(map[string]int64, len(r.pos.Seen)+len(p.items))
	}
	seen := r.seen
	clear(seen)
	for _, e := range r.pos.Seen {
		seen[e.ID] = max(seen[e.ID], e.Version)
	}
	// The cursor after the page: every check-in at its last instant, plus
	// those already seen at since when the page did not move past it.
	final := position{Since: newSince, Profile: r.pos.Profile}
	atEnd := map[string]int64{}
	if newSince == since {
		maps.Copy(atEnd, seen)
	}
	var order []string
	groups := map[string][]int{}
	for i := range p.items {
		id, ver, mod, ok := p.identity(i)
		if !ok {
			// No identity: it cannot be deduplicated, only reported.
			if err := r.reject(ctx, streamCheckins+"_unknown", fmt.Sprintf("check-in without a usable id, version or modified: %v", p.items[i].bad), p.items[i].raw); err != nil {
				return err
			}
			continue
		}
		if mod == newSince {
			atEnd[id] = max(atEnd[id], ver)
		}
		if old, dup := seen[id]; dup && ver <= old {
			continue // exported before (rule 2: one row per id and version)
		}
		seen[id] = ver
		if bad := p.items[i].bad; bad != nil {
			if err := r.reject(ctx, streamCheckins+"_unknown", "check-in does not decode: "+bad.Error(), p.items[i].raw); err != nil {
				return err
			}
			continue
		}
		typ := p.typed.Checkins[i].Type
		if _, ok := groups[typ]; !ok {
			order = append(order, typ)
		}
		groups[typ] = append(groups[typ], i)
	}
	for id, ver := range atEnd {
		final.Seen = append(final.Seen, seenEntry{ID: strings.Clone(id), Version: ver})
	}
	if len(order) == 0 {
		r.pos = final // nothing new: the cursor moves in memory only
		return nil
	}

	// Exported so far, for the positions between groups (only a page of
	// several types has them).
	var done map[string]int64
	if len(order) > 1 {
		done = make(map[string]int64, len(r.pos.Seen)+len(p.items))
		for _, e := range r.pos.Seen {
			done[e.ID] = max(done[e.ID], e.Version)
		}
	}
	for gi, typ := range order {
		cs := r.checkinStream(typ)
		cs.appendRows(p, groups[typ], r.user)
		var pending []pendingFragment
		for _, i := range groups[typ] {
			c := &p.typed.Checkins[i]
			if done != nil {
				done[c.ID] = c.Version
			}
			if r.s.cfg.Fragments && !p.items[i].deleted && p.items[i].members[0] != p.items[i].members[1] {
				for _, f := range p.fragments(i) {
					pending = append(pending, pendingFragment{ID: strings.Clone(c.ID), Version: c.Version, Name: f.Name, FragID: f.ID})
				}
			}
		}
		next := final
		if gi < len(order)-1 {
			next = position{Since: since, Profile: r.pos.Profile}
			for id, ver := range done {
				next.Seen = append(next.Seen, seenEntry{ID: strings.Clone(id), Version: ver})
			}
		}
		next.Pending = pending
		if err := r.send(ctx, cs.stream, cs.record(), next); err != nil {
			return err
		}
		if len(pending) > 0 {
			if err := r.fragments(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// fetched is one fragment's answer.
type fetched struct {
	body []byte
	err  error
}

// fragments fetches and emits r.pos.Pending, one batch per fragment name (in
// name order), each with the position that no longer lists that name's
// fragments. A fragment the API does not have (404) or of the wrong shape is a
// dead letter; any other failure ends the read, to be retried from the last
// position (which still lists what is pending).
func (r *reader) fragments(ctx context.Context) error {
	byName := map[string][]pendingFragment{}
	for _, f := range r.pos.Pending {
		byName[f.Name] = append(byName[f.Name], f)
	}
	names := slices.Sorted(maps.Keys(byName))
	for _, name := range names {
		list := byName[name]
		results := make([]fetched, len(list))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(r.s.cfg.FragmentConcurrency)
		for i, f := range list {
			g.Go(func() error {
				path := strings.NewReplacer("{id}", url.PathEscape(f.ID), "{name}", url.PathEscape(f.Name)).Replace(r.s.cfg.API.FragmentPath)
				err := r.s.client.do(gctx, r.user, request{method: http.MethodGet, path: path}, nil, func(b []byte) error {
					s := scanner{b: b}
					if _, err := s.value(); err != nil {
						return err
					}
					if err := s.end(); err != nil {
						return err
					}
					results[i].body = bytes.Clone(b)
					return nil
				})
				var ae *APIError
				if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
					results[i].err = err
					return nil
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		fs, ok := r.frags[name]
		if !ok {
			fs = newFragmentStream(r.s.opts.mem, name)
			fs.stream = streamFragments + streamName(name)
			r.frags[name] = fs
		}
		for i, f := range list {
			owner := fragmentOwner{user: r.user, id: f.ID, version: f.Version, fragID: f.FragID}
			reason := ""
			if err := results[i].err; err != nil {
				reason = "fragment not found: " + err.Error()
			} else if err := fs.add(owner, results[i].body); err != nil {
				reason = "fragment of an unexpected shape: " + err.Error()
			}
			if reason != "" {
				value := fmt.Appendf(nil, `{"checkin_id":%q,"checkin_version":%d,"fragment":%q,"fragment_id":%q}`, f.ID, f.Version, f.Name, f.FragID)
				if results[i].body != nil {
					value = append(value[:len(value)-1], `,"body":`...)
					value = append(append(value, results[i].body...), '}')
				}
				if err := r.reject(ctx, fs.stream, reason, value); err != nil {
					return err
				}
			}
		}
		next := r.pos
		next.Pending = slices.DeleteFunc(slices.Clone(r.pos.Pending), func(p pendingFragment) bool { return p.Name == name })
		if err := r.send(ctx, fs.stream, fs.record(), next); err != nil {
			return err
		}
	}
	return nil
}
