package azumio

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Emulator is the base_url value that starts the in-process emulator.
const Emulator = "emulator"

// Config is the `azumio` source's configuration. Start from DefaultConfig. Every
// path, parameter and limit the contract marks [assumed] is an option under `api`
// with the contract's value as its default, so that a user facing the real
// service can adjust it in the pipeline file.
type Config struct {
	BaseURL      string   `yaml:"base_url" doc:"API root URL, or \"emulator\" to start the in-process emulator (seeded by the emulator options; needs no account)" default:"https://api.azumio.com"`
	ClientID     string   `yaml:"client_id" doc:"X-Client-ID given by Azumio at registration; required unless base_url is emulator or replay is set"`
	ClientSecret string   `yaml:"client_secret" doc:"client secret, used to refresh expired tokens (and by etl auth azumio)"`
	Tokens       string   `yaml:"tokens" doc:"tokens file (JSON, mode 0600): one OAuth token per user id, written by etl auth azumio; rotated tokens are written back"`
	Users        []string `yaml:"users" doc:"export only these user ids (default: every user of the tokens file)"`
	Types        []string `yaml:"types" doc:"check-in types to request; an empty list requests every type, and types the source does not know are exported with the generic schema" default:"[steps, workout_log, heartrate, sleeptime, drink, weight]"`
	Fragments    bool     `yaml:"fragments" doc:"fetch every check-in's fragments (#name properties) into azumio.fragments.<name>" default:"true"`
	Profile      bool     `yaml:"profile" doc:"export each user's profile into azumio.profile when it changes" default:"true"`
	TokenIn      string   `yaml:"token_in" doc:"where the token travels: header (Authorization: OAuth <token>) or query (the _headers parameter)" default:"header"`
	Timezone     string   `yaml:"timezone" doc:"X-Timezone header (IANA name) sent with every call; empty: none"`

	RequestsPerSecond   float64       `yaml:"requests_per_second" doc:"request rate shared by all users of the run (0: unlimited)" default:"20"`
	Burst               int           `yaml:"burst" doc:"requests allowed at once above the rate (0: the rate rounded up)" default:"0"`
	FragmentConcurrency int           `yaml:"fragment_concurrency" doc:"fragment requests in flight per user (1 to 64)" default:"4"`
	Timeout             time.Duration `yaml:"timeout" doc:"time limit of one request, body included" default:"30s"`
	Retry               RetryConfig   `yaml:"retry" doc:"retries of one request on 429, 5xx, timeouts, dropped connections and cut bodies"`

	API APIConfig `yaml:"api" doc:"paths, parameters and limits of the API (the contract's values; those marked [assumed] there may differ on the real service)"`

	Archive            string `yaml:"archive" doc:"directory keeping every fetched page as JSON lines (compressed: see archive_compression) with the request that produced it"`
	ArchiveCompression string `yaml:"archive_compression" doc:"compression of new archive files: zstd, gzip or none (plain JSON lines, five times the disk; a replay reads all three: zstd decompresses about three times as fast as gzip, none needs no decompression)" default:"zstd"`
	Replay             string `yaml:"replay" doc:"directory of an archive to read instead of calling the API (no credentials needed)"`

	Emulator EmulatorConfig `yaml:"emulator" doc:"data of the in-process emulator (base_url: emulator only)"`
}

// RetryConfig bounds the retries of one request. When they run out the unit is
// handed back to the runner as a transient error, and the runner retries it from
// its last position.
type RetryConfig struct {
	Tries   int           `yaml:"tries" doc:"attempts per request, the first included (1 to 100)" default:"5"`
	Initial time.Duration `yaml:"initial" doc:"first backoff wait; it grows exponentially with jitter" default:"500ms"`
	Max     time.Duration `yaml:"max" doc:"longest backoff wait (a longer Retry-After is still honoured)" default:"30s"`
}

// APIConfig holds the API's paths, parameter names and limits.
type APIConfig struct {
	CheckinsPath      string `yaml:"checkins_path" doc:"check-in list" default:"/api2/checkins"`
	FragmentPath      string `yaml:"fragment_path" doc:"[assumed] a fragment, with {id} (check-in id) and {name} (fragment name without #)" default:"/api2/checkins/{id}/fragments/{name}"`
	ProfilePath       string `yaml:"profile_path" doc:"the user's profile" default:"/api2/users/me"`
	SubscriptionsPath string `yaml:"subscriptions_path" doc:"webhook subscriptions" default:"/api2/subscriptions"`
	AuthorizePath     string `yaml:"authorize_path" doc:"browser login (authorization-code flow)" default:"/api2/authorize"`
	TokenPath         string `yaml:"token_path" doc:"token endpoint (GET with query parameters, as documented)" default:"/api2/token"`
	TypeParam         string `yaml:"type_param" doc:"parameter naming the check-in types, comma-separated" default:"type"`
	SinceParam        string `yaml:"since_param" doc:"[assumed] parameter of the inclusive lower bound on modified (UNIX ms)" default:"since"`
	LimitParam        string `yaml:"limit_param" doc:"[assumed] parameter of the page size" default:"limit"`
	PageSize          int    `yaml:"page_size" doc:"[assumed] check-ins asked per page" default:"100"`
	MaxPageSize       int    `yaml:"max_page_size" doc:"[assumed] largest page the API serves; a page of check-ins sharing one modified is widened up to it" default:"1000"`
	DeletedField      string `yaml:"deleted_field" doc:"[assumed] check-in property that marks a deletion (a new version with it true)" default:"deleted"`
	UnsubscribeMethod string `yaml:"unsubscribe_method" doc:"[assumed] HTTP method that removes a subscription" default:"DELETE"`
}

// EmulatorConfig seeds the in-process emulator of base_url: emulator.
type EmulatorConfig struct {
	Seed     int64 `yaml:"seed" doc:"seed of every value" default:"1"`
	Users    int   `yaml:"users" doc:"number of users (1 to 10000)" default:"3"`
	Checkins int   `yaml:"checkins" doc:"check-ins per user (0 to 10000000)" default:"200"`
}

// DefaultTypes are the check-in types requested by default: the six of the
// contract.
var DefaultTypes = []string{"steps", "workout_log", "heartrate", "sleeptime", "drink", "weight"}

// DefaultConfig returns the configuration of an empty `config:` section.
func DefaultConfig() Config {
	return Config{
		BaseURL:             "https://api.azumio.com",
		Types:               slices.Clone(DefaultTypes),
		Fragments:           true,
		Profile:             true,
		TokenIn:             "header",
		RequestsPerSecond:   20,
		ArchiveCompression:  "zstd",
		FragmentConcurrency: 4,
		Timeout:             30 * time.Second,
		Retry:               RetryConfig{Tries: 5, Initial: 500 * time.Millisecond, Max: 30 * time.Second},
		API: APIConfig{
			CheckinsPath:      "/api2/checkins",
			FragmentPath:      "/api2/checkins/{id}/fragments/{name}",
			ProfilePath:       "/api2/users/me",
			SubscriptionsPath: "/api2/subscriptions",
			AuthorizePath:     "/api2/authorize",
			TokenPath:         "/api2/token",
			TypeParam:         "type",
			SinceParam:        "since",
			LimitParam:        "limit",
			PageSize:          100,
			MaxPageSize:       1000,
			DeletedField:      "deleted",
			UnsubscribeMethod: "DELETE",
		},
		Emulator: EmulatorConfig{Seed: 1, Users: 3, Checkins: 200},
	}
}

// IsEmulator reports whether the config asks for the in-process emulator.
func (c Config) IsEmulator() bool { return c.BaseURL == Emulator }

// errorf reports one problem with the option at key ("types[2]", "api.page_size").
type errorf func(key, format string, args ...any) error

// check returns every problem of c at once, each made by report. emulatorSet
// tells whether the file has an emulator section.
func (c Config) check(report errorf, emulatorSet bool) []error {
	var errs []error
	add := func(key, format string, args ...any) { errs = append(errs, report(key, format, args...)) }
	if c.BaseURL != Emulator {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("base_url", "want an http(s) URL like https://api.azumio.com, or %q; got %q", Emulator, c.BaseURL)
		}
		if emulatorSet {
			add("emulator", "emulator options apply only with base_url: %s", Emulator)
		}
	}
	needCreds := c.BaseURL != Emulator && c.Replay == ""
	if needCreds && c.ClientID == "" {
		add("client_id", "missing (the X-Client-ID Azumio gave you at registration)")
	}
	if needCreds && c.Tokens == "" {
		add("tokens", "missing (the tokens file that `etl auth azumio` writes)")
	}
	if _, ok := archiveExt[c.ArchiveCompression]; !ok {
		add("archive_compression", "unknown value %q (want one of: zstd, gzip, none)", c.ArchiveCompression)
	}
	if c.Archive != "" && c.Replay != "" {
		add("replay", "archive and replay exclude each other (replay reads an archive, archive writes one)")
	}
	seen := map[string]int{}
	for i, t := range c.Types {
		key := fmt.Sprintf("types[%d]", i)
		switch prev, dup := seen[t]; {
		case t == "" || strings.ContainsAny(t, ", /"):
			add(key, "want a type name like steps (no commas, spaces or slashes), got %q", t)
		case dup:
			add(key, "duplicate type %q (also types[%d])", t, prev)
		default:
			seen[t] = i
		}
	}
	seen = map[string]int{}
	for i, u := range c.Users {
		key := fmt.Sprintf("users[%d]", i)
		if prev, dup := seen[u]; dup {
			add(key, "duplicate user %q (also users[%d])", u, prev)
		} else if u == "" || strings.Contains(u, "/") {
			add(key, "want a user id like 10001, got %q", u)
		}
		seen[u] = i
	}
	if c.TokenIn != "header" && c.TokenIn != "query" {
		add("token_in", "unknown value %q (want one of: header, query)", c.TokenIn)
	}
	if c.RequestsPerSecond < 0 || math.IsNaN(c.RequestsPerSecond) || math.IsInf(c.RequestsPerSecond, 0) {
		add("requests_per_second", "must be a number >= 0 (0: unlimited), got %v", c.RequestsPerSecond)
	}
	if c.Burst < 0 {
		add("burst", "must not be negative, got %d", c.Burst)
	}
	if c.FragmentConcurrency < 1 || c.FragmentConcurrency > 64 {
		add("fragment_concurrency", "must be between 1 and 64, got %d", c.FragmentConcurrency)
	}
	if c.Timeout <= 0 {
		add("timeout", "must be > 0, got %s", c.Timeout)
	}
	if c.Retry.Tries < 1 || c.Retry.Tries > 100 {
		add("retry.tries", "must be between 1 and 100, got %d", c.Retry.Tries)
	}
	if c.Retry.Initial <= 0 {
		add("retry.initial", "must be > 0, got %s", c.Retry.Initial)
	}
	if c.Retry.Max < c.Retry.Initial {
		add("retry.max", "must be at least retry.initial (%s), got %s", c.Retry.Initial, c.Retry.Max)
	}
	a := c.API
	for key, p := range map[string]string{
		"api.checkins_path": a.CheckinsPath, "api.fragment_path": a.FragmentPath, "api.profile_path": a.ProfilePath,
		"api.subscriptions_path": a.SubscriptionsPath, "api.authorize_path": a.AuthorizePath, "api.token_path": a.TokenPath,
	} {
		if !strings.HasPrefix(p, "/") {
			add(key, "want a path starting with /, got %q", p)
		}
	}
	if !strings.Contains(a.FragmentPath, "{id}") || !strings.Contains(a.FragmentPath, "{name}") {
		add("api.fragment_path", "must contain {id} and {name}, got %q", a.FragmentPath)
	}
	for key, p := range map[string]string{
		"api.type_param": a.TypeParam, "api.since_param": a.SinceParam, "api.limit_param": a.LimitParam, "api.deleted_field": a.DeletedField,
	} {
		if p == "" {
			add(key, "must not be empty")
		}
	}
	if a.MaxPageSize < 1 {
		add("api.max_page_size", "must be at least 1, got %d", a.MaxPageSize)
	}
	if a.PageSize < 1 || a.PageSize > max(a.MaxPageSize, 1) {
		add("api.page_size", "must be between 1 and api.max_page_size (%d), got %d", a.MaxPageSize, a.PageSize)
	}
	switch a.UnsubscribeMethod {
	case "DELETE", "POST", "GET":
	default:
		add("api.unsubscribe_method", "unknown method %q (want one of: DELETE, POST, GET)", a.UnsubscribeMethod)
	}
	if c.BaseURL == Emulator {
		e := c.Emulator
		if e.Users < 1 || e.Users > 10_000 {
			add("emulator.users", "must be between 1 and 10000, got %d", e.Users)
		}
		if e.Checkins < 0 || e.Checkins > 10_000_000 {
			add("emulator.checkins", "must be between 0 and 10000000, got %d", e.Checkins)
		}
	}
	return errs
}

// Check returns every problem of c at once, joined, or nil: the checks the
// plugin's factory makes, for tools that build a Config without a pipeline file.
func (c Config) Check() error {
	report := func(key, format string, args ...any) error {
		return fmt.Errorf("azumio: "+key+": "+format, args...)
	}
	return errors.Join(c.check(report, false)...)
}
