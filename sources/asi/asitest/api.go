package asitest

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// call is one API request being answered, with the world locked.
type call struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	u      *user // nil for an unauthenticated caller of an open route
	wd     *world
	locked bool
}

// unlock releases the world early, for answers that take long to build from
// data copied out of it.
func (c *call) unlock() {
	if c.locked {
		c.locked = false
		c.s.mu.Unlock()
	}
}

func (c *call) json(status int, v any) { writeJSON(c.w, status, v) }

func (c *call) fail(status int, msg string) { c.json(status, detail(msg)) }

// fields answers 400 with errors per field, as Django REST framework does.
func (c *call) fields(errs map[string][]string) { c.json(http.StatusBadRequest, errs) }

// id returns the path wildcard name as an id, answering 404 if it is none.
func (c *call) id(name string) (int64, bool) {
	id, err := strconv.ParseInt(c.r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		c.fail(http.StatusNotFound, "Not found.")
		return 0, false
	}
	return id, true
}

// body decodes a JSON object body; it answers 400 and returns false if the body
// is not one.
func (c *call) body() (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(http.MaxBytesReader(c.w, c.r.Body, 1<<20))
	if err := dec.Decode(&m); err != nil || m == nil {
		c.fail(http.StatusBadRequest, "JSON parse error: want a JSON object.")
		return nil, false
	}
	return m, true
}

func (c *call) role(roles ...string) bool {
	if c.u != nil && slices.Contains(roles, c.u.Role) {
		return true
	}
	c.fail(http.StatusForbidden, "You do not have permission to perform this action (it needs the role "+strings.Join(roles, " or ")+").")
	return false
}

// api wraps a handler: it locks the world, authenticates the caller and
// answers 401 unless the route is open to unauthenticated callers.
func (s *Server) api(h func(c *call), open bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		c := &call{s: s, w: w, r: r, wd: s.w, locked: true}
		defer c.unlock()
		u, why := s.authenticate(r)
		if u == nil && (!open || r.Header.Get("Authorization") != "") {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			c.fail(http.StatusUnauthorized, why)
			return
		}
		c.u = u
		h(c)
	}
}

func (s *Server) routes() {
	m := http.NewServeMux()
	s.mux = m
	m.HandleFunc("GET /oauth2/authorize/{$}", s.authorize)
	m.HandleFunc("POST /oauth2/authorize/{$}", s.authorize)
	m.HandleFunc("POST /oauth2/token/{$}", s.token)
	m.HandleFunc("POST /oauth2/revoke-token/{$}", s.revoke)

	api := func(pattern string, h func(c *call)) { m.HandleFunc(pattern, s.api(h, false)) }
	open := func(pattern string, h func(c *call)) { m.HandleFunc(pattern, s.api(h, true)) }
	const v1 = "/api/v1"
	api("GET "+v1+"/users/me/{$}", (*call).me)
	api("GET "+v1+"/managers/{$}", (*call).listManagers)
	open("POST "+v1+"/managers/{$}", (*call).createManager)
	api("GET "+v1+"/managers/{id}/{$}", (*call).getManager)
	api("GET "+v1+"/athletes/{$}", (*call).listAthletes)
	open("POST "+v1+"/athletes/{$}", (*call).createAthlete)
	api("GET "+v1+"/athletes/{id}/{$}", (*call).getAthlete)
	api("GET "+v1+"/athletes/{athlete}/managers/{manager}/permissions/{$}", (*call).listPermissions)
	api("POST "+v1+"/athletes/{athlete}/managers/{manager}/permissions/{$}", (*call).grantPermission)
	api("DELETE "+v1+"/athletes/{athlete}/managers/{manager}/permissions/{id}/{$}", (*call).revokePermission)
	api("GET "+v1+"/devices/{$}", (*call).listDevices)
	api("GET "+v1+"/devices/{id}/{$}", (*call).getDevice)
	api("POST "+v1+"/devices/{id}/take-ownership/{$}", (*call).takeOwnership)
	api("POST "+v1+"/devices/{id}/release-ownership/{$}", (*call).releaseOwnership)
	api("GET "+v1+"/devices/{id}/preprocessed-data/{$}", (*call).preprocessed)
	api("GET "+v1+"/devices/{id}/preprocessed-data-ranges/{$}", (*call).preprocessedRanges)
	api("GET "+v1+"/json-schemas/{$}", (*call).listSchemas)
	api("POST "+v1+"/json-schemas/{$}", (*call).createSchema)
	api("GET "+v1+"/json-schemas/{id}/{$}", (*call).getSchema)
	api("GET "+v1+"/activities/{$}", (*call).listActivities)
	api("POST "+v1+"/activities/{$}", (*call).createActivity)
	api("GET "+v1+"/activities/{id}/{$}", (*call).getActivity)
	api("PATCH "+v1+"/activities/{id}/{$}", (*call).patchActivity)
	api("DELETE "+v1+"/activities/{id}/{$}", (*call).deleteActivity)
	api("GET "+v1+"/activities/{id}/computed-data/{$}", (*call).activityComputed)
	api("GET "+v1+"/activities/{id}/webhooks/{$}", (*call).listWebhooks)
	api("POST "+v1+"/activities/{id}/webhooks/{$}", (*call).createWebhook)
	api("GET "+v1+"/activities/{id}/webhooks/{hook}/{$}", (*call).getWebhook)
	api("PATCH "+v1+"/activities/{id}/webhooks/{hook}/{$}", (*call).patchWebhook)
	api("DELETE "+v1+"/activities/{id}/webhooks/{hook}/{$}", (*call).deleteWebhook)
	api("GET "+v1+"/timeframes/{$}", (*call).listTimeframes)
	api("POST "+v1+"/timeframes/{$}", (*call).createTimeframe)
	api("GET "+v1+"/timeframes/{id}/{$}", (*call).getTimeframe)
	api("PATCH "+v1+"/timeframes/{id}/{$}", (*call).patchTimeframe)
	api("DELETE "+v1+"/timeframes/{id}/{$}", (*call).deleteTimeframe)
	api("GET "+v1+"/timeframes/{id}/computed-data/{$}", (*call).timeframeComputed)
	s.liveRoutes(m)
}

// ---- pagination

// pageBounds reads page (from 1) and limit (at most MaxLimit) for a list of
// count items and returns the slice [lo, hi) to answer; it answers 404 for a
// page past the end, as the service does.
func (c *call) pageBounds(count int) (page, pages, lo, hi int, ok bool) {
	q := c.r.URL.Query()
	limit := c.s.opts.PageLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			c.fail(http.StatusBadRequest, "Invalid limit "+strconv.Quote(v)+" (want a positive integer).")
			return 0, 0, 0, 0, false
		}
		limit = min(n, MaxLimit)
	}
	page = 1
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			c.fail(http.StatusNotFound, "Invalid page.")
			return 0, 0, 0, 0, false
		}
		page = n
	}
	pages = max(1, (count+limit-1)/limit)
	if page > pages {
		c.fail(http.StatusNotFound, "Invalid page.")
		return 0, 0, 0, 0, false
	}
	lo = (page - 1) * limit
	return page, pages, lo, min(lo+limit, count), true
}

type pageView struct {
	Count    int  `json:"count"`
	Page     int  `json:"page"`
	Next     *int `json:"next"`
	Previous *int `json:"previous"`
	Results  any  `json:"results"`
}

func (c *call) writePage(count, page, pages int, results any) {
	v := pageView{Count: count, Page: page, Results: results}
	if page < pages {
		n := page + 1
		v.Next = &n
	}
	if page > 1 {
		p := page - 1
		v.Previous = &p
	}
	c.json(http.StatusOK, v)
}

// list answers one page of items.
func list[T any](c *call, items []T) {
	page, pages, lo, hi, ok := c.pageBounds(len(items))
	if !ok {
		return
	}
	out := items[lo:hi]
	if out == nil {
		out = []T{}
	}
	c.writePage(len(items), page, pages, out)
}

// ordered applies ?ordering=id|-id (and the keys in extra) to ids sorted
// ascending; unknown keys are ignored, as Django REST framework does.
func (c *call) ordered(ids []int64, extra map[string]func(a, b int64) int) []int64 {
	o := c.r.URL.Query().Get("ordering")
	desc := strings.HasPrefix(o, "-")
	key := strings.TrimPrefix(o, "-")
	if f, ok := extra[key]; ok {
		slices.SortStableFunc(ids, f)
	}
	if desc {
		slices.Reverse(ids)
	}
	return ids
}

// search reports whether the ?search= text is empty or in one of texts.
func (c *call) search(texts ...string) bool {
	q := strings.ToLower(c.r.URL.Query().Get("search"))
	if q == "" {
		return true
	}
	for _, t := range texts {
		if strings.Contains(strings.ToLower(t), q) {
			return true
		}
	}
	return false
}

// ---- users

func (c *call) me() { c.json(http.StatusOK, viewMe(c.u)) }

func (c *call) canSeeManager(m *manager) bool {
	switch c.u.Role {
	case RoleAdmin:
		return true
	case RoleManager:
		return c.u.Manager.ID == m.ID
	}
	for _, p := range c.wd.permissions {
		if p.Athlete == c.u.Athlete.ID && p.Manager == m.ID {
			return true
		}
	}
	return false
}

func (c *call) canSeeAthlete(a *athlete) bool {
	switch c.u.Role {
	case RoleAdmin:
		return true
	case RoleAthlete:
		return c.u.Athlete.ID == a.ID
	}
	if a.CreatedBy == c.u.ID {
		return true
	}
	for _, p := range c.wd.permissions {
		if p.Athlete == a.ID && p.Manager == c.u.Manager.ID {
			return true
		}
	}
	return false
}

func (c *call) listManagers() {
	var out []managerView
	for _, id := range c.ordered(sortedIDs(c.wd.managers), nil) {
		m := c.wd.managers[id]
		if c.canSeeManager(m) && c.search(m.User.Username, m.FirstName, m.LastName) {
			out = append(out, viewManager(m))
		}
	}
	list(c, out)
}

func (c *call) getManager() {
	id, ok := c.id("id")
	if !ok {
		return
	}
	m, ok := c.wd.managers[id]
	if !ok || !c.canSeeManager(m) {
		c.fail(http.StatusNotFound, "Not found.")
		return
	}
	c.json(http.StatusOK, viewManager(m))
}

// newUser checks and creates the account part of a manager or athlete; it
// answers 400 and returns nil when the body is wrong.
func (c *call) newUser(b map[string]json.RawMessage, role string, errs map[string][]string) *user {
	var username, password, email, external string
	str(b, "username", &username, errs, true)
	str(b, "password", &password, errs, true)
	str(b, "email", &email, errs, false)
	str(b, "external_id", &external, errs, false)
	if _, taken := c.wd.byName[username]; taken && username != "" {
		errs["username"] = append(errs["username"], "A user with that username already exists.")
	}
	if len(errs) > 0 {
		c.fields(errs)
		return nil
	}
	u := c.wd.addUser(username, password, role)
	u.ExternalID = external
	if email != "" {
		u.Email = email
	}
	return u
}

func (c *call) createManager() {
	b, ok := c.body()
	if !ok {
		return
	}
	errs := map[string][]string{}
	var first, last string
	str(b, "first_name", &first, errs, false)
	str(b, "last_name", &last, errs, false)
	u := c.newUser(b, RoleManager, errs)
	if u == nil {
		return
	}
	m := &manager{ID: c.wd.newID("manager"), User: u, FirstName: first, LastName: last}
	u.Manager, c.wd.managers[m.ID] = m, m
	c.json(http.StatusCreated, viewManager(m))
}

func (c *call) listAthletes() {
	var out []athleteView
	for _, id := range c.ordered(sortedIDs(c.wd.athletes), nil) {
		a := c.wd.athletes[id]
		if c.canSeeAthlete(a) && c.search(a.User.Username, a.FirstName, a.LastName) {
			out = append(out, viewAthlete(a))
		}
	}
	list(c, out)
}

func (c *call) getAthlete() {
	id, ok := c.id("id")
	if !ok {
		return
	}
	a, ok := c.wd.athletes[id]
	if !ok || !c.canSeeAthlete(a) {
		c.fail(http.StatusNotFound, "Not found.")
		return
	}
	c.json(http.StatusOK, viewAthlete(a))
}

func (c *call) createAthlete() {
	b, ok := c.body()
	if !ok {
		return
	}
	errs := map[string][]string{}
	a := &athlete{}
	var maxHR float64
	str(b, "first_name", &a.FirstName, errs, false)
	str(b, "last_name", &a.LastName, errs, false)
	str(b, "birthdate", &a.Birthdate, errs, false)
	num(b, "weight", &a.Weight, errs)
	num(b, "height", &a.Height, errs)
	num(b, "max_heart_rate", &maxHR, errs)
	u := c.newUser(b, RoleAthlete, errs)
	if u == nil {
		return
	}
	a.ID, a.User, a.MaxHeartRate = c.wd.newID("athlete"), u, int(maxHR)
	if c.u != nil {
		a.CreatedBy = c.u.ID
	}
	u.Athlete, c.wd.athletes[a.ID] = a, a
	c.json(http.StatusCreated, viewAthlete(a))
}

// ---- permissions

func (c *call) permissionPair() (a *athlete, m *manager, ok bool) {
	aid, ok1 := c.id("athlete")
	if !ok1 {
		return nil, nil, false
	}
	mid, ok2 := c.id("manager")
	if !ok2 {
		return nil, nil, false
	}
	a, ok1 = c.wd.athletes[aid]
	m, ok2 = c.wd.managers[mid]
	if !ok1 || !ok2 {
		c.fail(http.StatusNotFound, "Not found.")
		return nil, nil, false
	}
	return a, m, true
}

func (c *call) listPermissions() {
	a, m, ok := c.permissionPair()
	if !ok {
		return
	}
	allowed := c.u.Role == RoleAdmin || (c.u.Athlete != nil && c.u.Athlete.ID == a.ID) || (c.u.Manager != nil && c.u.Manager.ID == m.ID)
	if !allowed {
		c.fail(http.StatusForbidden, "Only the athlete, the manager or an administrator may see these permissions.")
		return
	}
	var out []permissionView
	for _, id := range c.ordered(sortedIDs(c.wd.permissions), nil) {
		p := c.wd.permissions[id]
		if p.Athlete == a.ID && p.Manager == m.ID {
			out = append(out, viewPermission(p))
		}
	}
	list(c, out)
}

func (c *call) grantPermission() {
	a, m, ok := c.permissionPair()
	if !ok {
		return
	}
	if c.u.Role != RoleAdmin && (c.u.Athlete == nil || c.u.Athlete.ID != a.ID) {
		c.fail(http.StatusForbidden, "Only the athlete (or an administrator) may grant permissions on the athlete's data.")
		return
	}
	b, ok := c.body()
	if !ok {
		return
	}
	errs := map[string][]string{}
	p := &permission{Athlete: a.ID, Manager: m.ID, Created: c.s.Clock.Now()}
	timeField(b, "start_time", &p.Start, errs, true)
	timeField(b, "expiration_time", &p.Expiration, errs, true)
	str(b, "permission", &p.Kind, errs, true)
	if p.Kind != "" && p.Kind != PermRead && p.Kind != PermWrite {
		errs["permission"] = append(errs["permission"], `"`+p.Kind+`" is not a valid choice (READ or WRITE).`)
	}
	if !p.Start.IsZero() && !p.Expiration.IsZero() && !p.Expiration.After(p.Start) {
		errs["expiration_time"] = append(errs["expiration_time"], "Must be after start_time.")
	}
	if len(errs) > 0 {
		c.fields(errs)
		return
	}
	p.ID = c.wd.newID("permission")
	c.wd.permissions[p.ID] = p
	c.json(http.StatusCreated, viewPermission(p))
}

func (c *call) revokePermission() {
	a, m, ok := c.permissionPair()
	if !ok {
		return
	}
	id, ok := c.id("id")
	if !ok {
		return
	}
	p, found := c.wd.permissions[id]
	if !found || p.Athlete != a.ID || p.Manager != m.ID {
		c.fail(http.StatusNotFound, "Not found.")
		return
	}
	if c.u.Role != RoleAdmin && (c.u.Athlete == nil || c.u.Athlete.ID != a.ID) {
		c.fail(http.StatusForbidden, "Only the athlete (or an administrator) may revoke permissions on the athlete's data.")
		return
	}
	delete(c.wd.permissions, id)
	c.w.WriteHeader(http.StatusNoContent)
}

// ---- devices

func (c *call) everOwned(d *device) bool {
	if c.u.Role == RoleAdmin {
		return true
	}
	if c.u.Manager == nil {
		return false
	}
	for _, o := range d.ownerships {
		if o.Manager == c.u.Manager.ID {
			return true
		}
	}
	return false
}

func (c *call) listDevices() {
	current := c.r.URL.Query().Get("current")
	var out []deviceView
	for _, id := range c.ordered(sortedIDs(c.wd.devices), nil) {
		d := c.wd.devices[id]
		if !c.everOwned(d) || !c.search(d.Name, d.Serial) {
			continue
		}
		if (current == "true" || current == "True" || current == "1") && (c.u.Manager == nil || d.owner() != c.u.Manager.ID) {
			continue
		}
		out = append(out, viewDevice(d))
	}
	list(c, out)
}

func (c *call) device() (*device, bool) {
	id, ok := c.id("id")
	if !ok {
		return nil, false
	}
	d, ok := c.wd.devices[id]
	if !ok {
		c.fail(http.StatusNotFound, "Not found.")
	}
	return d, ok
}

func (c *call) getDevice() {
	d, ok := c.device()
	if !ok {
		return
	}
	if !c.everOwned(d) {
		c.fail(http.StatusNotFound, "Not found.")
		return
	}
	c.json(http.StatusOK, viewDevice(d))
}

func (c *call) takeOwnership() {
	if !c.role(RoleManager) {
		return
	}
	d, ok := c.device()
	if !ok {
		return
	}
	switch o := d.owner(); {
	case o == c.u.Manager.ID:
		c.fail(http.StatusBadRequest, "You already own device "+itoa(d.ID)+".")
		return
	case o != 0:
		c.fail(http.StatusBadRequest, "Device "+itoa(d.ID)+" has an ongoing ownership by another manager; it must be released first.")
		return
	}
	d.ownerships = append(d.ownerships, ownership{Manager: c.u.Manager.ID, Start: c.s.Clock.Now()})
	c.json(http.StatusOK, viewDevice(d))
}

func (c *call) releaseOwnership() {
	if !c.role(RoleManager) {
		return
	}
	d, ok := c.device()
	if !ok {
		return
	}
	for i, o := range d.ownerships {
		if o.End.IsZero() && o.Manager == c.u.Manager.ID {
			d.ownerships[i].End = c.s.Clock.Now()
			c.json(http.StatusOK, viewDevice(d))
			return
		}
	}
	c.fail(http.StatusBadRequest, "You are not the current owner of device "+itoa(d.ID)+".")
}

// ---- preprocessed data

// Interval limits of the preprocessed data endpoints.
const (
	MaxPreprocessedInterval = 48 * time.Hour
	MaxRangesInterval       = 14 * 24 * time.Hour
)

// available returns the periods of d's data the caller may read within
// [start, end): recorded, owned by the caller at the time, and before now.
func (c *call) available(d *device, start, end time.Time) ([]period, bool) {
	if !c.everOwned(d) {
		c.fail(http.StatusForbidden, "You are not and never were the owner of device "+itoa(d.ID)+"; preprocessed data is readable for the periods you owned it.")
		return nil, false
	}
	now := c.s.Clock.Now()
	q := period{start, minTime(end, now)}
	ps := intersect(d.recording, q)
	if c.u.Role != RoleAdmin {
		ps = intersectAll(ps, d.owned(c.u.Manager.ID, now))
	}
	return ps, true
}

// interval reads ?start=&end= (RFC 3339 or UNIX ms) of at most maxLen.
func (c *call) interval(maxLen time.Duration) (start, end time.Time, ok bool) {
	q := c.r.URL.Query()
	errs := map[string][]string{}
	for _, k := range []string{"start", "end"} {
		v := q.Get(k)
		t, good := parseTime(v)
		switch {
		case v == "":
			errs[k] = []string{"This query parameter is required."}
		case !good:
			errs[k] = []string{"Invalid instant " + strconv.Quote(v) + " (want RFC 3339, e.g. 2020-05-30T20:00:00.000Z, or UNIX milliseconds)."}
		case k == "start":
			start = t
		default:
			end = t
		}
	}
	if len(errs) == 0 && !end.After(start) {
		errs["end"] = []string{"Must be after start."}
	}
	if len(errs) == 0 && end.Sub(start) > maxLen {
		errs["end"] = []string{"The interval must be at most " + maxLen.String() + "."}
	}
	if len(errs) > 0 {
		c.fields(errs)
		return start, end, false
	}
	return start, end, true
}

// seconds lists the UNIX seconds whose messages lie in ps: a message is the
// second starting at its first sample.
func seconds(ps []period) (starts []int64, counts []int, total int) {
	for _, p := range ps {
		a := floorDiv(p.Start.UnixMilli()+999, 1000)
		b := floorDiv(p.End.UnixMilli()+999, 1000)
		if b > a {
			starts = append(starts, a)
			counts = append(counts, int(b-a))
			total += int(b - a)
		}
	}
	return starts, counts, total
}

func (c *call) preprocessed() {
	d, ok := c.device()
	if !ok {
		return
	}
	start, end, ok := c.interval(MaxPreprocessedInterval)
	if !ok {
		return
	}
	ps, ok := c.available(d, start, end)
	if !ok {
		return
	}
	gen := d.gen
	starts, counts, total := seconds(ps)
	page, pages, lo, hi, ok := c.pageBounds(total)
	if !ok {
		return
	}
	c.unlock() // the generator is immutable: build the page without the lock
	out := make([]message, 0, hi-lo)
	i := 0
	for k, s := range starts {
		for j := range counts[k] {
			if i >= lo && i < hi {
				out = append(out, gen.message(s+int64(j)))
			}
			i++
		}
	}
	c.writePage(total, page, pages, out)
}

type rangeView struct {
	Start jtime `json:"start"`
	End   jtime `json:"end"`
}

func (c *call) preprocessedRanges() {
	d, ok := c.device()
	if !ok {
		return
	}
	start, end, ok := c.interval(MaxRangesInterval)
	if !ok {
		return
	}
	ps, ok := c.available(d, start, end)
	if !ok {
		return
	}
	out := make([]rangeView, len(ps))
	for i, p := range ps {
		out[i] = rangeView{jtime(p.Start), jtime(p.End)}
	}
	list(c, out)
}

// ---- JSON schemas

func (c *call) listSchemas() {
	var out []schemaView
	for _, id := range c.ordered(sortedIDs(c.wd.schemas), nil) {
		s := c.wd.schemas[id]
		if c.search(s.Sport) {
			out = append(out, viewSchema(s))
		}
	}
	list(c, out)
}

func (c *call) getSchema() {
	id, ok := c.id("id")
	if !ok {
		return
	}
	s, ok := c.wd.schemas[id]
	if !ok {
		c.fail(http.StatusNotFound, "Not found.")
		return
	}
	c.json(http.StatusOK, viewSchema(s))
}

func (c *call) createSchema() {
	if !c.role(RoleAdmin) {
		return
	}
	b, ok := c.body()
	if !ok {
		return
	}
	errs := map[string][]string{}
	var sport string
	var version float64
	str(b, "sport", &sport, errs, true)
	num(b, "version", &version, errs)
	raw, has := b["schema"]
	if !has {
		errs["schema"] = []string{"This field is required."}
	}
	if len(errs) > 0 {
		c.fields(errs)
		return
	}
	s, err := c.wd.addSchema(sport, int(version), string(raw))
	if err != nil {
		c.fields(map[string][]string{"schema": {err.Error()}})
		return
	}
	c.json(http.StatusCreated, viewSchema(s))
}

// ---- activities

func (c *call) canSeeActivity(a *activity) bool {
	switch c.u.Role {
	case RoleAdmin:
		return true
	case RoleManager:
		return a.Owner == c.u.Manager.ID
	}
	for _, tf := range c.wd.timeframes {
		if tf.Activity == a.ID && tf.Athlete == c.u.Athlete.ID {
			return true
		}
	}
	return false
}

func (c *call) activity() (*activity, bool) {
	id, ok := c.id("id")
	if !ok {
		return nil, false
	}
	a, ok := c.wd.activities[id]
	if !ok || !c.canSeeActivity(a) {
		c.fail(http.StatusNotFound, "Not found.")
		return nil, false
	}
	return a, true
}

// ownActivity is activity for changes: only its owner or an administrator.
func (c *call) ownActivity() (*activity, bool) {
	a, ok := c.activity()
	if !ok {
		return nil, false
	}
	if c.u.Role != RoleAdmin && (c.u.Manager == nil || c.u.Manager.ID != a.Owner) {
		c.fail(http.StatusForbidden, "Only the activity's owner may change it.")
		return nil, false
	}
	return a, true
}

func (c *call) listActivities() {
	var out []activityView
	for _, id := range c.ordered(sortedIDs(c.wd.activities), nil) {
		a := c.wd.activities[id]
		if c.canSeeActivity(a) && c.search(a.Name) {
			out = append(out, viewActivity(a))
		}
	}
	list(c, out)
}

func (c *call) getActivity() {
	if a, ok := c.activity(); ok {
		c.json(http.StatusOK, viewActivity(a))
	}
}

// validate checks an activity's json against its JSON schema, adding the
// validation errors to errs.
func (c *call) validate(raw json.RawMessage, schema int64, errs map[string][]string) any {
	s, ok := c.wd.schemas[schema]
	if !ok {
		errs["json_schema"] = append(errs["json_schema"], `Invalid pk "`+itoa(schema)+`" - object does not exist.`)
		return nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		errs["json"] = append(errs["json"], "Not valid JSON.")
		return nil
	}
	if err := s.schema.Validate(doc); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			if line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "- ")); line != "" && !strings.HasPrefix(line, "jsonschema validation failed") {
				errs["json"] = append(errs["json"], line)
			}
		}
		if len(errs["json"]) == 0 {
			errs["json"] = []string{err.Error()}
		}
		return nil
	}
	var v any
	json.Unmarshal(raw, &v)
	return v
}

func (c *call) createActivity() {
	if !c.role(RoleManager, RoleAdmin) {
		return
	}
	b, ok := c.body()
	if !ok {
		return
	}
	errs := map[string][]string{}
	now := c.s.Clock.Now()
	a := &activity{Created: now, Modified: now}
	str(b, "name", &a.Name, errs, true)
	if !c.owner(b, &a.Owner, errs) {
		return
	}
	var schema float64
	num(b, "json_schema", &schema, errs)
	raw, has := b["json"]
	switch {
	case !has:
		errs["json"] = []string{"This field is required."}
	case schema == 0:
		errs["json_schema"] = append(errs["json_schema"], "This field is required.")
	default:
		a.Schema = int64(schema)
		a.JSON = c.validate(raw, a.Schema, errs)
	}
	if len(errs) > 0 {
		c.fields(errs)
		return
	}
	a.ID = c.wd.newID("activity")
	c.wd.activities[a.ID] = a
	c.json(http.StatusCreated, viewActivity(a))
}

// owner reads the owner field of a new activity or time frame: a manager may
// only name himself (the default); an administrator must name a manager.
func (c *call) owner(b map[string]json.RawMessage, out *int64, errs map[string][]string) bool {
	var o float64
	num(b, "owner", &o, errs)
	switch {
	case c.u.Role == RoleManager && o != 0 && int64(o) != c.u.Manager.ID:
		c.fail(http.StatusForbidden, "A manager may only create resources he owns (owner "+itoa(int64(o))+" is not you).")
		return false
	case c.u.Role == RoleManager:
		*out = c.u.Manager.ID
	case c.wd.managers[int64(o)] == nil:
		errs["owner"] = append(errs["owner"], `Invalid pk "`+itoa(int64(o))+`" - object does not exist.`)
	default:
		*out = int64(o)
	}
	return true
}

func (c *call) patchActivity() {
	a, ok := c.ownActivity()
	if !ok {
		return
	}
	b, ok := c.body()
	if !ok {
		return
	}
	errs := map[string][]string{}
	name, schema := a.Name, a.Schema
	str(b, "name", &name, errs, false)
	if v, has := b["json_schema"]; has {
		var f float64
		if json.Unmarshal(v, &f) != nil {
			errs["json_schema"] = []string{"A valid integer is required."}
		}
		schema = int64(f)
	}
	doc := a.JSON
	if raw, has := b["json"]; has {
		doc = c.validate(raw, schema, errs)
	} else if schema != a.Schema {
		raw, _ := json.Marshal(a.JSON)
		c.validate(raw, schema, errs)
	}
	if len(errs) > 0 {
		c.fields(errs)
		return
	}
	a.Name, a.Schema, a.JSON, a.Modified = name, schema, doc, c.s.Clock.Now()
	c.s.fire(a.ID, "activity-updated", 0)
	c.json(http.StatusOK, viewActivity(a))
}

func (c *call) deleteActivity() {
	a, ok := c.ownActivity()
	if !ok {
		return
	}
	c.s.fire(a.ID, "activity-deleted", 0)
	for id, tf := range c.wd.timeframes {
		if tf.Activity == a.ID {
			delete(c.wd.timeframes, id)
		}
	}
	for id, h := range c.wd.webhooks {
		if h.Activity == a.ID {
			delete(c.wd.webhooks, id)
		}
	}
	delete(c.wd.activities, a.ID)
	c.w.WriteHeader(http.StatusNoContent)
}

type computedView struct {
	Timeframe int64          `json:"timeframe"`
	Data      map[string]any `json:"data"`
}

func (c *call) activityComputed() {
	a, ok := c.activity()
	if !ok {
		return
	}
	out := []computedView{}
	for _, id := range sortedIDs(c.wd.timeframes) {
		tf := c.wd.timeframes[id]
		if tf.Activity != a.ID {
			continue
		}
		if msg := c.readDenied(tf); msg != "" {
			c.fail(http.StatusForbidden, msg)
			return
		}
		out = append(out, computedView{tf.ID, c.s.computedData(tf)})
	}
	c.json(http.StatusOK, out)
}

// ---- webhooks

func (c *call) webhook(a *activity) (*webhook, bool) {
	id, ok := c.id("hook")
	if !ok {
		return nil, false
	}
	h, ok := c.wd.webhooks[id]
	if !ok || h.Activity != a.ID {
		c.fail(http.StatusNotFound, "Not found.")
		return nil, false
	}
	return h, true
}

func (c *call) listWebhooks() {
	a, ok := c.ownActivity()
	if !ok {
		return
	}
	var out []webhookView
	for _, id := range c.ordered(sortedIDs(c.wd.webhooks), nil) {
		if h := c.wd.webhooks[id]; h.Activity == a.ID {
			out = append(out, viewWebhook(h))
		}
	}
	list(c, out)
}

func (c *call) webhookFields(b map[string]json.RawMessage, h *webhook, create bool) map[string][]string {
	errs := map[string][]string{}
	str(b, "webhook_url", &h.URL, errs, create)
	str(b, "secret_token", &h.Secret, errs, create)
	boolean(b, "activity_events", &h.ActivityEvents, errs)
	boolean(b, "timeframes_events", &h.TimeframesEvents, errs)
	if _, has := b["webhook_url"]; has && !strings.HasPrefix(h.URL, "http://") && !strings.HasPrefix(h.URL, "https://") {
		errs["webhook_url"] = append(errs["webhook_url"], "Enter a valid URL.")
	}
	return errs
}

func (c *call) createWebhook() {
	a, ok := c.ownActivity()
	if !ok {
		return
	}
	b, ok := c.body()
	if !ok {
		return
	}
	h := &webhook{Activity: a.ID, ActivityEvents: true, TimeframesEvents: true}
	if errs := c.webhookFields(b, h, true); len(errs) > 0 {
		c.fields(errs)
		return
	}
	h.ID = c.wd.newID("webhook")
	c.wd.webhooks[h.ID] = h
	c.json(http.StatusCreated, viewWebhook(h))
}

func (c *call) getWebhook() {
	a, ok := c.ownActivity()
	if !ok {
		return
	}
	if h, ok := c.webhook(a); ok {
		c.json(http.StatusOK, viewWebhook(h))
	}
}

func (c *call) patchWebhook() {
	a, ok := c.ownActivity()
	if !ok {
		return
	}
	h, ok := c.webhook(a)
	if !ok {
		return
	}
	b, ok := c.body()
	if !ok {
		return
	}
	next := *h
	if errs := c.webhookFields(b, &next, false); len(errs) > 0 {
		c.fields(errs)
		return
	}
	*h = next
	c.json(http.StatusOK, viewWebhook(h))
}

func (c *call) deleteWebhook() {
	a, ok := c.ownActivity()
	if !ok {
		return
	}
	if h, ok := c.webhook(a); ok {
		delete(c.wd.webhooks, h.ID)
		c.w.WriteHeader(http.StatusNoContent)
	}
}

// ---- time frames

func (c *call) canSeeTimeframe(tf *timeframe) bool {
	switch c.u.Role {
	case RoleAdmin:
		return true
	case RoleAthlete:
		return tf.Athlete == c.u.Athlete.ID
	}
	return tf.Owner == c.u.Manager.ID || c.wd.hasPermission(tf.Athlete, c.u.Manager.ID, PermRead, period{tf.Start, tf.End})
}

// readDenied says why the caller may not read tf's computed data ("" if he may).
func (c *call) readDenied(tf *timeframe) string {
	switch c.u.Role {
	case RoleAdmin:
		return ""
	case RoleAthlete:
		return "Only managers (and administrators) may read computed data."
	}
	if c.wd.hasPermission(tf.Athlete, c.u.Manager.ID, PermRead, period{tf.Start, tf.End}) {
		return ""
	}
	return "You do not have READ permission on athlete " + itoa(tf.Athlete) + " covering time frame " + itoa(tf.ID) +
		" (" + tf.Start.Format(TimeLayout) + " to " + tf.End.Format(TimeLayout) + ")."
}

func (c *call) embeds() map[string]bool {
	q := c.r.URL.Query()
	m := map[string]bool{}
	for _, k := range []string{"device", "athlete", "activity"} {
		v := q.Get("with_" + k)
		m[k] = v == "true" || v == "True" || v == "1"
	}
	return m
}

func (c *call) listTimeframes() {
	q := c.r.URL.Query()
	filter := map[string]int64{}
	for _, k := range []string{"activity", "athlete", "device"} {
		if v := q.Get(k); v != "" {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				c.fields(map[string][]string{k: {"Select a valid choice."}})
				return
			}
			filter[k] = id
		}
	}
	byStart := func(a, b int64) int { return c.wd.timeframes[a].Start.Compare(c.wd.timeframes[b].Start) }
	byEnd := func(a, b int64) int { return c.wd.timeframes[a].End.Compare(c.wd.timeframes[b].End) }
	embed := c.embeds()
	var out []timeframeView
	for _, id := range c.ordered(sortedIDs(c.wd.timeframes), map[string]func(a, b int64) int{"start_time": byStart, "end_time": byEnd}) {
		tf := c.wd.timeframes[id]
		// Lists show the caller's own time frames (a manager's, an athlete's).
		own := c.u.Role == RoleAdmin || (c.u.Manager != nil && tf.Owner == c.u.Manager.ID) || (c.u.Athlete != nil && tf.Athlete == c.u.Athlete.ID)
		if !own {
			continue
		}
		if v, ok := filter["activity"]; ok && tf.Activity != v {
			continue
		}
		if v, ok := filter["athlete"]; ok && tf.Athlete != v {
			continue
		}
		if v, ok := filter["device"]; ok && tf.Device != v {
			continue
		}
		out = append(out, c.wd.viewTimeframe(tf, embed))
	}
	list(c, out)
}

func (c *call) timeframe() (*timeframe, bool) {
	id, ok := c.id("id")
	if !ok {
		return nil, false
	}
	tf, ok := c.wd.timeframes[id]
	if !ok || !c.canSeeTimeframe(tf) {
		c.fail(http.StatusNotFound, "Not found.")
		return nil, false
	}
	return tf, true
}

func (c *call) getTimeframe() {
	if tf, ok := c.timeframe(); ok {
		c.json(http.StatusOK, c.wd.viewTimeframe(tf, c.embeds()))
	}
}

// timeframeFields applies the fields in b to tf and checks the result: related
// resources exist, the period is sound, the owner holds WRITE on the athlete
// for it. It answers and returns false when something is wrong.
func (c *call) timeframeFields(b map[string]json.RawMessage, tf *timeframe, create bool) bool {
	errs := map[string][]string{}
	timeField(b, "start_time", &tf.Start, errs, create)
	timeField(b, "end_time", &tf.End, errs, create)
	ref := func(key string, out *int64, exists func(int64) bool) {
		raw, has := b[key]
		if !has {
			if create {
				errs[key] = []string{"This field is required."}
			}
			return
		}
		var f float64
		if json.Unmarshal(raw, &f) != nil || !exists(int64(f)) {
			errs[key] = []string{`Invalid pk ` + string(raw) + ` - object does not exist.`}
			return
		}
		*out = int64(f)
	}
	ref("device", &tf.Device, func(id int64) bool { return c.wd.devices[id] != nil })
	ref("athlete", &tf.Athlete, func(id int64) bool { return c.wd.athletes[id] != nil })
	if create {
		ref("activity", &tf.Activity, func(id int64) bool { return c.wd.activities[id] != nil })
	}
	if raw, has := b["json_schema"]; has && string(raw) != "null" {
		ref("json_schema", &tf.Schema, func(id int64) bool { return c.wd.schemas[id] != nil })
	}
	if raw, has := b["params"]; has {
		var p map[string]any
		if json.Unmarshal(raw, &p) != nil || p == nil {
			errs["params"] = []string{"Must be a JSON object."}
		} else {
			tf.Params = p
		}
	}
	if len(errs) == 0 && !tf.End.After(tf.Start) {
		errs["end_time"] = []string{"Must be after start_time."}
	}
	if len(errs) > 0 {
		c.fields(errs)
		return false
	}
	if act := c.wd.activities[tf.Activity]; act.Owner != tf.Owner {
		c.fail(http.StatusForbidden, "Activity "+itoa(act.ID)+" belongs to another manager.")
		return false
	}
	if c.u.Role != RoleAdmin && !c.wd.hasPermission(tf.Athlete, tf.Owner, PermWrite, period{tf.Start, tf.End}) {
		c.fail(http.StatusForbidden, "You do not have WRITE permission on athlete "+itoa(tf.Athlete)+" covering "+
			tf.Start.Format(TimeLayout)+" to "+tf.End.Format(TimeLayout)+".")
		return false
	}
	return true
}

func (c *call) createTimeframe() {
	if !c.role(RoleManager, RoleAdmin) {
		return
	}
	b, ok := c.body()
	if !ok {
		return
	}
	now := c.s.Clock.Now()
	tf := &timeframe{Params: map[string]any{}, Created: now, Modified: now}
	errs := map[string][]string{}
	if !c.owner(b, &tf.Owner, errs) {
		return
	}
	if len(errs) > 0 {
		c.fields(errs)
		return
	}
	if !c.timeframeFields(b, tf, true) {
		return
	}
	if tf.Schema == 0 {
		tf.Schema = c.wd.activities[tf.Activity].Schema
	}
	tf.ID = c.wd.newID("timeframe")
	c.wd.timeframes[tf.ID] = tf
	c.s.fire(tf.Activity, "timeframe-created", tf.ID)
	c.json(http.StatusCreated, c.wd.viewTimeframe(tf, nil))
}

func (c *call) ownTimeframe() (*timeframe, bool) {
	tf, ok := c.timeframe()
	if !ok {
		return nil, false
	}
	if c.u.Role != RoleAdmin && (c.u.Manager == nil || c.u.Manager.ID != tf.Owner) {
		c.fail(http.StatusForbidden, "Only the time frame's owner may change it.")
		return nil, false
	}
	return tf, true
}

func (c *call) patchTimeframe() {
	tf, ok := c.ownTimeframe()
	if !ok {
		return
	}
	b, ok := c.body()
	if !ok {
		return
	}
	next := *tf
	if !c.timeframeFields(b, &next, false) {
		return
	}
	next.Modified = c.s.Clock.Now()
	*tf = next
	c.s.fire(tf.Activity, "timeframe-updated", tf.ID)
	c.json(http.StatusOK, c.wd.viewTimeframe(tf, nil))
}

func (c *call) deleteTimeframe() {
	tf, ok := c.ownTimeframe()
	if !ok {
		return
	}
	delete(c.wd.timeframes, tf.ID)
	c.s.fire(tf.Activity, "timeframe-deleted", tf.ID)
	c.w.WriteHeader(http.StatusNoContent)
}

func (c *call) timeframeComputed() {
	tf, ok := c.timeframe()
	if !ok {
		return
	}
	if msg := c.readDenied(tf); msg != "" {
		c.fail(http.StatusForbidden, msg)
		return
	}
	c.json(http.StatusOK, c.s.computedData(tf))
}

// defaultThresholds are the acceleration thresholds (m/s²) of a time frame
// whose params name none.
var defaultThresholds = []float64{2, 3}

// computedData returns tf's computed data as of the clock; s.mu is held. Its
// params may set {"thresholds": [2, 3, 4]}.
func (s *Server) computedData(tf *timeframe) map[string]any {
	d := s.w.devices[tf.Device]
	end := minTime(tf.End, s.Clock.Now())
	if d == nil || !end.After(tf.Start) {
		return map[string]any{}
	}
	recorded := intersect(d.recording, period{tf.Start, end})
	if len(recorded) == 0 {
		return map[string]any{}
	}
	thresholds := defaultThresholds
	if p, ok := tf.Params.(map[string]any); ok {
		if list, ok := p["thresholds"].([]any); ok && len(list) > 0 {
			thresholds = nil
			for _, v := range list {
				if f, ok := v.(float64); ok {
					thresholds = append(thresholds, f)
				}
			}
		}
	}
	last := recorded[len(recorded)-1].End.Add(-time.Second).Truncate(time.Second)
	return d.gen.computed(recorded, thresholds, last)
}

// ---- field helpers (Django REST framework style errors)

func str(b map[string]json.RawMessage, key string, out *string, errs map[string][]string, required bool) {
	raw, has := b[key]
	if !has || string(raw) == "null" {
		if required {
			errs[key] = []string{"This field is required."}
		}
		return
	}
	if json.Unmarshal(raw, out) != nil {
		errs[key] = []string{"Not a valid string."}
		return
	}
	if required && *out == "" {
		errs[key] = []string{"This field may not be blank."}
	}
}

func num(b map[string]json.RawMessage, key string, out *float64, errs map[string][]string) {
	raw, has := b[key]
	if !has || string(raw) == "null" {
		return
	}
	if json.Unmarshal(raw, out) != nil {
		errs[key] = []string{"A valid number is required."}
	}
}

func boolean(b map[string]json.RawMessage, key string, out *bool, errs map[string][]string) {
	raw, has := b[key]
	if !has || string(raw) == "null" {
		return
	}
	if json.Unmarshal(raw, out) != nil {
		errs[key] = []string{"Must be a valid boolean."}
	}
}

func timeField(b map[string]json.RawMessage, key string, out *time.Time, errs map[string][]string, required bool) {
	var s string
	str(b, key, &s, errs, required)
	if s == "" {
		return
	}
	t, ok := parseTime(s)
	if !ok {
		errs[key] = []string{"Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."}
		return
	}
	*out = t
}
