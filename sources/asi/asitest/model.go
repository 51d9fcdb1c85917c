package asitest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// User roles.
const (
	RoleAdmin   = "administrator"
	RoleManager = "manager"
	RoleAthlete = "athlete"
)

// Permission kinds an athlete grants a manager.
const (
	PermRead  = "READ"
	PermWrite = "WRITE"
)

// world is the emulator's in-memory database. The Server's mutex guards it.
type world struct {
	users       map[int64]*user
	byName      map[string]*user
	managers    map[int64]*manager
	athletes    map[int64]*athlete
	devices     map[int64]*device
	schemas     map[int64]*jsonSchema
	activities  map[int64]*activity
	timeframes  map[int64]*timeframe
	permissions map[int64]*permission
	webhooks    map[int64]*webhook
	next        map[string]int64 // last id given per kind
}

func (w *world) newID(kind string) int64 {
	w.next[kind]++
	return w.next[kind]
}

type user struct {
	ID         int64
	Username   string
	Password   string
	Email      string
	Role       string
	ExternalID string
	Manager    *manager // for RoleManager
	Athlete    *athlete // for RoleAthlete
}

type manager struct {
	ID        int64
	User      *user
	FirstName string
	LastName  string
}

type athlete struct {
	ID           int64
	User         *user
	FirstName    string
	LastName     string
	Weight       float64 // kg
	Height       float64 // m
	MaxHeartRate int     // 1/min
	Birthdate    string  // YYYY-MM-DD
	CreatedBy    int64   // user id
}

type device struct {
	ID         int64
	Serial     string
	Name       string
	ownerships []ownership
	// recording is when the device recorded data, sorted and disjoint.
	recording []period
	gen       *generator
}

type ownership struct {
	Manager int64
	Start   time.Time
	End     time.Time // zero: ongoing
}

func (o ownership) period(now time.Time) period {
	if o.End.IsZero() {
		return period{o.Start, now}
	}
	return period{o.Start, o.End}
}

// owner returns the manager owning d now, 0 if none.
func (d *device) owner() int64 {
	for _, o := range d.ownerships {
		if o.End.IsZero() {
			return o.Manager
		}
	}
	return 0
}

// owned returns the periods during which manager m owned d, up to now.
func (d *device) owned(m int64, now time.Time) []period {
	var ps []period
	for _, o := range d.ownerships {
		if o.Manager == m {
			ps = append(ps, o.period(now))
		}
	}
	return mergePeriods(ps)
}

type jsonSchema struct {
	ID      int64
	Sport   string
	Version int
	Doc     any // the schema, as jsonschema.UnmarshalJSON decoded it
	Raw     string
	schema  *jsonschema.Schema
}

type activity struct {
	ID       int64
	Name     string
	JSON     any
	Schema   int64
	Owner    int64 // manager id
	Created  time.Time
	Modified time.Time
}

type timeframe struct {
	ID       int64
	Start    time.Time
	End      time.Time
	Params   any
	Device   int64
	Activity int64
	Athlete  int64
	Owner    int64 // manager id
	Schema   int64
	Created  time.Time
	Modified time.Time
}

type permission struct {
	ID         int64
	Athlete    int64
	Manager    int64
	Start      time.Time
	Expiration time.Time
	Kind       string
	Created    time.Time
}

func (p *permission) covers(q period) bool {
	return !p.Start.After(q.Start) && !p.Expiration.Before(q.End)
}

type webhook struct {
	ID               int64
	Activity         int64
	URL              string
	Secret           string
	ActivityEvents   bool
	TimeframesEvents bool
}

// hasPermission reports whether athlete a granted manager m kind over all of q.
func (w *world) hasPermission(a, m int64, kind string, q period) bool {
	for _, p := range w.permissions {
		if p.Athlete == a && p.Manager == m && p.Kind == kind && p.covers(q) {
			return true
		}
	}
	return false
}

// sortedIDs returns the keys of m, ascending.
func sortedIDs[T any](m map[int64]T) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

var firstNames = []string{"Ada", "Bruno", "Chloé", "Dario", "Elif", "Femi", "Greta", "Hugo", "Inès", "Jonas", "Kaito", "Lena"}
var lastNames = []string{"Meier", "Rossi", "Dubois", "Keller", "Nguyen", "Okafor", "Silva", "Berg", "Novak", "Haddad"}

// builtinSchemas are the seeded JSON schemas, one or more versions per sport.
var builtinSchemas = []struct {
	sport   string
	version int
	doc     string
}{
	{"soccer", 1, `{"type": "object", "required": ["sport", "type"], "properties": {"sport": {"const": "soccer"}, "type": {"enum": ["match", "training"]}}}`},
	{"tennis", 1, `{"type": "object", "required": ["sport", "type"], "properties": {"sport": {"const": "tennis"}, "type": {"enum": ["match", "training"]}}}`},
	{"soccer", 2, `{"type": "object", "required": ["sport", "type", "field"], "properties": {"sport": {"const": "soccer"}, "type": {"enum": ["match", "training"]}, "field": {"type": "string", "minLength": 1}}}`},
	{"running", 1, `{"type": "object", "required": ["sport"], "properties": {"sport": {"const": "running"}, "distance_km": {"type": "number", "minimum": 0}}}`},
}

// seed builds the world of opts. Everything in it is a function of opts.
func seed(opts Options) (*world, error) {
	w := &world{
		users: map[int64]*user{}, byName: map[string]*user{},
		managers: map[int64]*manager{}, athletes: map[int64]*athlete{},
		devices: map[int64]*device{}, schemas: map[int64]*jsonSchema{},
		activities: map[int64]*activity{}, timeframes: map[int64]*timeframe{},
		permissions: map[int64]*permission{}, webhooks: map[int64]*webhook{},
		next: map[string]int64{},
	}
	k := mix64(uint64(opts.Seed) ^ 0x5eed)
	name := func(i int64) (string, string) {
		return firstNames[mix64(k+uint64(i))%uint64(len(firstNames))], lastNames[mix64(k+uint64(i)*7+3)%uint64(len(lastNames))]
	}
	w.addUser("admin", Password, RoleAdmin)
	for i := range opts.Managers {
		u := w.addUser(fmt.Sprintf("manager%d", i+1), Password, RoleManager)
		f, l := name(int64(1000 + i))
		m := &manager{ID: w.newID("manager"), User: u, FirstName: f, LastName: l}
		u.Manager, w.managers[m.ID] = m, m
	}
	for i := range opts.Athletes {
		u := w.addUser(fmt.Sprintf("athlete%d", i+1), Password, RoleAthlete)
		f, l := name(int64(i))
		h := mix64(k + uint64(i)*31)
		a := &athlete{
			ID: w.newID("athlete"), User: u, FirstName: f, LastName: l,
			Weight:       float64(55+h%40) + 0.5*float64(h>>8%2),
			Height:       round(1.60+float64(h>>16%40)/100, 2),
			MaxHeartRate: 180 + int(h>>24%25),
			Birthdate:    time.Date(1990+int(h>>32%15), time.Month(1+h>>40%12), 1+int(h>>48%28), 0, 0, 0, 0, time.UTC).Format(time.DateOnly),
		}
		u.Athlete, w.athletes[a.ID] = a, a
	}
	for _, s := range builtinSchemas {
		if _, err := w.addSchema(s.sport, s.version, s.doc); err != nil {
			return nil, err
		}
	}
	owned := opts.Start.Add(-30 * 24 * time.Hour)
	for i := range opts.Devices {
		id := w.newID("device")
		d := &device{
			ID: id, Serial: fmt.Sprintf("ASI-%06d", 100000+mix64(k+uint64(id))%900000), Name: fmt.Sprintf("Pod %d", id),
			ownerships: []ownership{{Manager: 1, Start: owned}},
			gen:        newGenerator(opts.Seed, id, opts.Rate),
		}
		_ = i
		w.devices[id] = d
	}
	for _, a := range sortedIDs(w.athletes) {
		for _, kind := range []string{PermRead, PermWrite} {
			p := &permission{
				ID: w.newID("permission"), Athlete: a, Manager: 1, Kind: kind,
				Start: owned, Expiration: opts.Start.Add(365 * 24 * time.Hour), Created: owned,
			}
			w.permissions[p.ID] = p
		}
	}
	sports := []struct {
		schema int64
		sport  string
	}{{1, "soccer"}, {2, "tennis"}}
	for i := range opts.Activities {
		start := opts.Start.Add(time.Duration(i) * 24 * time.Hour)
		s := sports[i%len(sports)]
		kind := "match"
		if i%3 == 2 {
			kind = "training"
		}
		act := &activity{
			ID: w.newID("activity"), Name: fmt.Sprintf("%s %s of %s", strings.ToUpper(s.sport[:1])+s.sport[1:], kind, start.Format("2 January 2006")),
			JSON: map[string]any{"sport": s.sport, "type": kind}, Schema: s.schema, Owner: 1,
			Created: start.Add(-24 * time.Hour), Modified: start.Add(-24 * time.Hour),
		}
		w.activities[act.ID] = act
		for j := range min(opts.Athletes, opts.Devices) {
			tf := &timeframe{
				ID: w.newID("timeframe"), Start: start, End: start.Add(opts.Session),
				Params: map[string]any{}, Device: int64(j + 1), Activity: act.ID, Athlete: int64(j + 1),
				Owner: 1, Schema: act.Schema, Created: act.Created, Modified: act.Created,
			}
			w.timeframes[tf.ID] = tf
			d := w.devices[tf.Device]
			d.recording = append(d.recording, period{start.Add(-sessionPad), start.Add(opts.Session + sessionPad)})
		}
	}
	for _, d := range w.devices {
		d.recording = mergePeriods(d.recording)
	}
	return w, nil
}

func (w *world) addUser(name, password, role string) *user {
	u := &user{ID: w.newID("user"), Username: name, Password: password, Role: role, Email: name + "@example.com"}
	w.users[u.ID], w.byName[name] = u, u
	return u
}

func (w *world) addSchema(sport string, version int, doc string) (*jsonSchema, error) {
	id := w.newID("json_schema")
	parsed, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("asitest: json schema %s v%d: %w", sport, version, err)
	}
	c := jsonschema.NewCompiler()
	loc := fmt.Sprintf("https://api.asi.example/json-schemas/%d.json", id)
	if err := c.AddResource(loc, parsed); err != nil {
		return nil, fmt.Errorf("asitest: json schema %s v%d: %w", sport, version, err)
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("asitest: json schema %s v%d: %w", sport, version, err)
	}
	s := &jsonSchema{ID: id, Sport: sport, Version: version, Doc: parsed, Raw: doc, schema: sch}
	w.schemas[id] = s
	return s, nil
}
