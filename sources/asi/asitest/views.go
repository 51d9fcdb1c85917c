package asitest

import (
	"strings"
	"time"

	json "github.com/goccy/go-json"
)

// TimeLayout is how the emulator writes instants: UTC with milliseconds, as
// in the guide's examples ("2020-05-30T20:00:00.000Z").
const TimeLayout = "2006-01-02T15:04:05.000Z"

// jtime is an instant in JSON; the zero time is null.
type jtime time.Time

func (t jtime) MarshalJSON() ([]byte, error) {
	if time.Time(t).IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + time.Time(t).UTC().Format(TimeLayout) + `"`), nil
}

// parseTime reads an instant as the API accepts it: RFC 3339 ("Z" or "+01:00"),
// the guide's "+0100" offsets, or UNIX milliseconds.
func parseTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	if ms, err := json.Number(s).Int64(); err == nil {
		return time.UnixMilli(ms).UTC(), true
	}
	return time.Time{}, false
}

type managerView struct {
	ID         int64  `json:"id"`
	User       int64  `json:"user"`
	Username   string `json:"username"`
	Email      string `json:"email"`
	ExternalID string `json:"external_id"`
	FirstName  string `json:"first_name"`
	LastName   string `json:"last_name"`
}

func viewManager(m *manager) managerView {
	return managerView{ID: m.ID, User: m.User.ID, Username: m.User.Username, Email: m.User.Email,
		ExternalID: m.User.ExternalID, FirstName: m.FirstName, LastName: m.LastName}
}

type athleteView struct {
	ID           int64   `json:"id"`
	User         int64   `json:"user"`
	Username     string  `json:"username"`
	Email        string  `json:"email"`
	ExternalID   string  `json:"external_id"`
	FirstName    string  `json:"first_name"`
	LastName     string  `json:"last_name"`
	Weight       float64 `json:"weight"`
	Height       float64 `json:"height"`
	MaxHeartRate int     `json:"max_heart_rate"`
	Birthdate    string  `json:"birthdate"`
}

func viewAthlete(a *athlete) athleteView {
	return athleteView{ID: a.ID, User: a.User.ID, Username: a.User.Username, Email: a.User.Email,
		ExternalID: a.User.ExternalID, FirstName: a.FirstName, LastName: a.LastName,
		Weight: a.Weight, Height: a.Height, MaxHeartRate: a.MaxHeartRate, Birthdate: a.Birthdate}
}

type meView struct {
	ID             int64        `json:"id"`
	Username       string       `json:"username"`
	Email          string       `json:"email"`
	ExternalID     string       `json:"external_id"`
	Role           string       `json:"role"`
	ManagerProfile *managerView `json:"manager_profile"`
	AthleteProfile *athleteView `json:"athlete_profile"`
}

func viewMe(u *user) meView {
	v := meView{ID: u.ID, Username: u.Username, Email: u.Email, ExternalID: u.ExternalID, Role: u.Role}
	if u.Manager != nil {
		m := viewManager(u.Manager)
		v.ManagerProfile = &m
	}
	if u.Athlete != nil {
		a := viewAthlete(u.Athlete)
		v.AthleteProfile = &a
	}
	return v
}

type deviceView struct {
	ID           int64  `json:"id"`
	SerialNumber string `json:"serial_number"`
	Name         string `json:"name"`
	Activated    bool   `json:"activated"`
	// Owner is the current owner's manager id.
	Owner *int64 `json:"owner"`
	// OwnedSince is when the current ownership started.
	OwnedSince jtime `json:"owned_since"`
}

func viewDevice(d *device) deviceView {
	v := deviceView{ID: d.ID, SerialNumber: d.Serial, Name: d.Name, Activated: len(d.ownerships) > 0}
	for _, o := range d.ownerships {
		if o.End.IsZero() {
			m := o.Manager
			v.Owner, v.OwnedSince = &m, jtime(o.Start)
		}
	}
	return v
}

type schemaView struct {
	ID      int64  `json:"id"`
	Sport   string `json:"sport"`
	Version int    `json:"version"`
	Schema  any    `json:"schema"`
}

func viewSchema(s *jsonSchema) schemaView {
	return schemaView{ID: s.ID, Sport: s.Sport, Version: s.Version, Schema: json.RawMessage(s.Raw)}
}

type activityView struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	JSON       any    `json:"json"`
	JSONSchema int64  `json:"json_schema"`
	Owner      int64  `json:"owner"`
	Created    jtime  `json:"created"`
	Modified   jtime  `json:"modified"`
}

func viewActivity(a *activity) activityView {
	return activityView{ID: a.ID, Name: a.Name, JSON: a.JSON, JSONSchema: a.Schema, Owner: a.Owner,
		Created: jtime(a.Created), Modified: jtime(a.Modified)}
}

type timeframeView struct {
	ID         int64 `json:"id"`
	StartTime  jtime `json:"start_time"`
	EndTime    jtime `json:"end_time"`
	Params     any   `json:"params"`
	Device     any   `json:"device"`
	Activity   any   `json:"activity"`
	Athlete    any   `json:"athlete"`
	Owner      int64 `json:"owner"`
	JSONSchema int64 `json:"json_schema"`
	Created    jtime `json:"created"`
	Modified   jtime `json:"modified"`
}

// viewTimeframe shows tf; with embeds the related resources named in embed
// ("device", "athlete", "activity") instead of their ids.
func (w *world) viewTimeframe(tf *timeframe, embed map[string]bool) timeframeView {
	v := timeframeView{ID: tf.ID, StartTime: jtime(tf.Start), EndTime: jtime(tf.End), Params: tf.Params,
		Device: tf.Device, Activity: tf.Activity, Athlete: tf.Athlete, Owner: tf.Owner, JSONSchema: tf.Schema,
		Created: jtime(tf.Created), Modified: jtime(tf.Modified)}
	if d, ok := w.devices[tf.Device]; ok && embed["device"] {
		v.Device = viewDevice(d)
	}
	if a, ok := w.athletes[tf.Athlete]; ok && embed["athlete"] {
		v.Athlete = viewAthlete(a)
	}
	if a, ok := w.activities[tf.Activity]; ok && embed["activity"] {
		v.Activity = viewActivity(a)
	}
	return v
}

type permissionView struct {
	ID             int64  `json:"id"`
	Athlete        int64  `json:"athlete"`
	Manager        int64  `json:"manager"`
	StartTime      jtime  `json:"start_time"`
	ExpirationTime jtime  `json:"expiration_time"`
	Permission     string `json:"permission"`
	Created        jtime  `json:"created"`
}

func viewPermission(p *permission) permissionView {
	return permissionView{ID: p.ID, Athlete: p.Athlete, Manager: p.Manager, StartTime: jtime(p.Start),
		ExpirationTime: jtime(p.Expiration), Permission: p.Kind, Created: jtime(p.Created)}
}

type webhookView struct {
	ID               int64  `json:"id"`
	WebhookURL       string `json:"webhook_url"`
	SecretToken      string `json:"secret_token"`
	ActivityEvents   bool   `json:"activity_events"`
	TimeframesEvents bool   `json:"timeframes_events"`
}

func viewWebhook(h *webhook) webhookView {
	return webhookView{ID: h.ID, WebhookURL: h.URL, SecretToken: mask(h.Secret),
		ActivityEvents: h.ActivityEvents, TimeframesEvents: h.TimeframesEvents}
}

// mask shows the first two characters of a secret, as the service does
// ("56789ABCD" → "56*******").
func mask(s string) string {
	if len(s) <= 2 {
		return strings.Repeat("*", len(s))
	}
	return s[:2] + strings.Repeat("*", len(s)-2)
}
