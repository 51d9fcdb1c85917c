package asi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sources/asi/asitest"
)

// DefaultBaseURL is the public service.
const DefaultBaseURL = "https://api.asi.swiss"

// Emulator is the base_url that starts the emulator in-process.
const Emulator = "emulator"

// Config is the `asi` source's configuration. Start from DefaultConfig: the
// zero value has no streams and no limits.
type Config struct {
	BaseURL      string `yaml:"base_url" doc:"the API's base URL, or \"emulator\" to start the emulator in-process and log in to it" default:"https://api.asi.swiss"`
	ClientID     string `yaml:"client_id" doc:"OAuth client id (from ASI's registration)"`
	ClientSecret string `yaml:"client_secret" doc:"OAuth client secret; use ${ASI_CLIENT_SECRET}, never the secret itself"`
	Username     string `yaml:"username" doc:"manager's username for the password grant (with password); without it the tokens file must hold tokens (etl auth asi)"`
	Password     string `yaml:"password" doc:"manager's password for the password grant; use ${ASI_PASSWORD}"`
	Tokens       string `yaml:"tokens" doc:"token file (JSON, mode 0600) written by etl auth asi or the password grant; rotated tokens are written back atomically"`
	// Emulator seeds the in-process emulator (base_url: emulator only).
	Emulator asitest.Options `yaml:"emulator" doc:"the in-process emulator's world (base_url: emulator only)"`

	Streams []string `yaml:"streams" doc:"what to export: metadata (athletes, devices, activities, timeframes, permissions; or name them one by one), computed, preprocessed" default:"[metadata, computed]"`
	Groups  []string `yaml:"groups" doc:"preprocessed groups to export, e.g. [gnss, ecg] (default: every group, also ones not known yet)"`

	Activities []int64       `yaml:"activities" doc:"export only time frames of these activities; live_computed streams these activities"`
	Timeframes []int64       `yaml:"timeframes" doc:"live_computed also streams these time frames, each until its end"`
	Athletes   []int64       `yaml:"athletes" doc:"export only time frames of these athletes"`
	Devices    []int64       `yaml:"devices" doc:"export only time frames of these devices, and the preprocessed history of these devices (default: the devices owned now)"`
	Since      time.Time     `yaml:"since" doc:"export time frames that end after this instant, and preprocessed history from it"`
	Until      time.Time     `yaml:"until" doc:"export time frames that start before this instant, and preprocessed history up to it"`
	History    time.Duration `yaml:"history" doc:"without since, how far back a device's preprocessed history starts on its first run" default:"720h"`

	Settle        time.Duration `yaml:"settle" doc:"a time frame is finished this long after its end by the server's clock; history is read up to the server's now minus settle" default:"1m"`
	PageSize      int           `yaml:"page_size" doc:"results per page, 1 to 3000" default:"1000"`
	Rate          float64       `yaml:"rate" doc:"requests per second at most, over all units" default:"10"`
	Burst         int           `yaml:"burst" doc:"requests allowed at once above the rate" default:"10"`
	Retries       int           `yaml:"retries" doc:"retries of one request after 429 (honouring Retry-After), 5xx or a dropped connection, before the unit is handed to the runner's own retries" default:"4"`
	RetryWait     time.Duration `yaml:"retry_wait" doc:"first wait before retrying a failed request; it doubles on each retry up to 10s (a Retry-After header overrides it)" default:"200ms"`
	Timeout       time.Duration `yaml:"timeout" doc:"time limit of one HTTP request" default:"1m"`
	RefreshBefore time.Duration `yaml:"refresh_before" doc:"refresh the access token this long before it expires" default:"1m"`
	// Live tunes the live streams (live_preprocessed).
	Live LiveConfig `yaml:"live" doc:"live WebSocket streams: server buffer params, reconnect backoff, gap threshold"`
	// API holds the paths and parameters the contract marks as assumed.
	API API `yaml:"api" doc:"paths and parameters the contract assumes; change them if the service differs"`
}

// API is every path and parameter the contract marks [assumed], with the
// contract's value as default. Paths hold {timeframe}, {device}, {athlete}
// and {manager} placeholders.
type API struct {
	Me                 string        `yaml:"me" doc:"the caller's account" default:"/api/v1/users/me/"`
	TimeframeComputed  string        `yaml:"timeframe_computed" doc:"computed data of one time frame" default:"/api/v1/timeframes/{timeframe}/computed-data/"`
	Preprocessed       string        `yaml:"preprocessed" doc:"preprocessed data of a device in an interval" default:"/api/v1/devices/{device}/preprocessed-data/"`
	PreprocessedRanges string        `yaml:"preprocessed_ranges" doc:"periods with preprocessed data of a device" default:"/api/v1/devices/{device}/preprocessed-data-ranges/"`
	Permissions        string        `yaml:"permissions" doc:"permissions an athlete granted a manager (GET)" default:"/api/v1/athletes/{athlete}/managers/{manager}/permissions/"`
	StartParam         string        `yaml:"start_param" doc:"query parameter of an interval's start" default:"start"`
	EndParam           string        `yaml:"end_param" doc:"query parameter of an interval's end" default:"end"`
	TimeFormat         string        `yaml:"time_format" doc:"how interval bounds are written: rfc3339 or unix_ms" default:"rfc3339"`
	Window             time.Duration `yaml:"window" doc:"longest interval of one preprocessed-data request" default:"48h"`
	RangesWindow       time.Duration `yaml:"ranges_window" doc:"longest interval of one ranges request" default:"336h"`
}

// DefaultAPI returns the contract's values.
func DefaultAPI() API {
	return API{
		Me:                 "/api/v1/users/me/",
		TimeframeComputed:  "/api/v1/timeframes/{timeframe}/computed-data/",
		Preprocessed:       "/api/v1/devices/{device}/preprocessed-data/",
		PreprocessedRanges: "/api/v1/devices/{device}/preprocessed-data-ranges/",
		Permissions:        "/api/v1/athletes/{athlete}/managers/{manager}/permissions/",
		StartParam:         "start",
		EndParam:           "end",
		TimeFormat:         "rfc3339",
		Window:             48 * time.Hour,
		RangesWindow:       14 * 24 * time.Hour,
	}
}

// DefaultConfig returns the configuration of an empty `config:` section.
func DefaultConfig() Config {
	return Config{
		BaseURL:       DefaultBaseURL,
		Emulator:      asitest.DefaultOptions(),
		Streams:       []string{"metadata", "computed"},
		History:       30 * 24 * time.Hour,
		Settle:        time.Minute,
		PageSize:      1000,
		Rate:          10,
		Burst:         10,
		Retries:       4,
		RetryWait:     200 * time.Millisecond,
		Timeout:       time.Minute,
		RefreshBefore: time.Minute,
		Live:          DefaultLiveConfig(),
		API:           DefaultAPI(),
	}
}

// Metadata streams, in the order the metadata unit emits them.
var metadataStreams = []string{"athletes", "devices", "activities", "timeframes", "permissions"}

// StreamNames lists the values of the streams option.
var StreamNames = append([]string{"metadata"}, append(append([]string(nil), metadataStreams...), "computed", "preprocessed", "live_preprocessed", "live_computed")...)

// wants reports whether the streams option selects stream s (one of
// StreamNames, "metadata" standing for all five metadata streams).
func (c Config) wants(s string) bool {
	if slices.Contains(c.Streams, s) {
		return true
	}
	return slices.Contains(metadataStreams, s) && slices.Contains(c.Streams, "metadata")
}

func (c Config) wantsMetadata() bool {
	return slices.ContainsFunc(metadataStreams, c.wants)
}

// emulated reports whether the source runs its own emulator.
func (c Config) emulated() bool { return c.BaseURL == Emulator }

// problem is one invalid option, named by its path in the config section.
type problem struct {
	key string
	msg string
}

// problems returns every problem of c; emulatorSet says whether the config
// section has an emulator block.
func (c Config) problems(emulatorSet bool) []problem {
	var ps []problem
	add := func(key, format string, args ...any) { ps = append(ps, problem{key, fmt.Sprintf(format, args...)}) }
	if c.emulated() {
		for _, p := range c.Emulator.Problems() {
			add("emulator."+p.Option, "%s", p.Msg)
		}
	} else {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add("base_url", "want an http(s) URL like %s, or %q, got %q", DefaultBaseURL, Emulator, c.BaseURL)
		}
		if emulatorSet {
			add("emulator", "only used with base_url: %s", Emulator)
		}
		if c.ClientID == "" {
			add("client_id", "missing (the OAuth client id ASI registered for you)")
		}
		if c.ClientSecret == "" {
			add("client_secret", "missing (write ${ASI_CLIENT_SECRET} and set the variable)")
		}
		if (c.Username == "") != (c.Password == "") {
			add("password", "username and password go together (the password grant needs both)")
		}
		if c.Username == "" && c.Tokens == "" {
			add("tokens", "missing: give a tokens file (run etl auth asi to fill it) or username and password")
		}
	}
	if len(c.Streams) == 0 {
		add("streams", "choose at least one of: %s", strings.Join(StreamNames, ", "))
	}
	for i, s := range c.Streams {
		if !slices.Contains(StreamNames, s) {
			add(fmt.Sprintf("streams[%d]", i), "unknown stream %q (want one of: %s)", s, strings.Join(StreamNames, ", "))
		}
	}
	for i, g := range c.Groups {
		if g == "" {
			add(fmt.Sprintf("groups[%d]", i), "empty group name")
		}
	}
	if !c.Since.IsZero() && !c.Until.IsZero() && !c.Until.After(c.Since) {
		add("until", "must be after since (%s)", c.Since.Format(time.RFC3339))
	}
	if c.History <= 0 {
		add("history", "must be > 0, got %s", c.History)
	}
	if c.Settle < 0 {
		add("settle", "must not be negative, got %s", c.Settle)
	}
	if c.PageSize < 1 || c.PageSize > asitest.MaxLimit {
		add("page_size", "must be between 1 and %d, got %d", asitest.MaxLimit, c.PageSize)
	}
	if c.Rate <= 0 {
		add("rate", "must be > 0 requests per second, got %v", c.Rate)
	}
	if c.Burst < 1 {
		add("burst", "must be at least 1, got %d", c.Burst)
	}
	if c.Retries < 0 {
		add("retries", "must not be negative, got %d", c.Retries)
	}
	if c.RetryWait <= 0 {
		add("retry_wait", "must be > 0, got %s", c.RetryWait)
	}
	if c.Timeout <= 0 {
		add("timeout", "must be > 0, got %s", c.Timeout)
	}
	if c.RefreshBefore < 0 {
		add("refresh_before", "must not be negative, got %s", c.RefreshBefore)
	}
	if c.wants("live_computed") && len(c.Activities) == 0 && len(c.Timeframes) == 0 {
		add("activities", "live_computed streams the activities (or timeframes) listed: name at least one")
	}
	for _, p := range c.Live.problems() {
		add("live."+p.key, "%s", p.msg)
	}
	a := c.API
	paths := []struct{ key, v, need string }{
		{"me", a.Me, ""}, {"timeframe_computed", a.TimeframeComputed, "{timeframe}"},
		{"preprocessed", a.Preprocessed, "{device}"}, {"preprocessed_ranges", a.PreprocessedRanges, "{device}"},
		{"permissions", a.Permissions, "{athlete}"},
	}
	for _, p := range paths {
		switch {
		case !strings.HasPrefix(p.v, "/"):
			add("api."+p.key, "want a path starting with /, got %q", p.v)
		case !strings.HasSuffix(p.v, "/"):
			add("api."+p.key, "want a path ending with / (the API answers 404 without it), got %q", p.v)
		case p.need != "" && !strings.Contains(p.v, p.need):
			add("api."+p.key, "want a path with %s in it, got %q", p.need, p.v)
		}
	}
	if !strings.Contains(a.Permissions, "{manager}") {
		add("api.permissions", "want a path with {manager} in it, got %q", a.Permissions)
	}
	if a.StartParam == "" {
		add("api.start_param", "must not be empty")
	}
	if a.EndParam == "" {
		add("api.end_param", "must not be empty")
	}
	if a.TimeFormat != "rfc3339" && a.TimeFormat != "unix_ms" {
		add("api.time_format", "unknown value %q (want rfc3339 or unix_ms)", a.TimeFormat)
	}
	if a.Window < time.Second {
		add("api.window", "must be at least 1s, got %s", a.Window)
	}
	if a.RangesWindow < time.Second {
		add("api.ranges_window", "must be at least 1s, got %s", a.RangesWindow)
	}
	return ps
}

// Check returns every problem of c, joined, each as "asi: option: problem".
func (c Config) Check() error {
	var errs []error
	for _, p := range c.problems(!reflect.DeepEqual(c.Emulator, asitest.DefaultOptions())) {
		errs = append(errs, fmt.Errorf("asi: %s: %s", p.key, p.msg))
	}
	return errors.Join(errs...)
}

// DecodeConfig decodes an asi source's config section onto DefaultConfig and
// checks it, reporting every problem at its place in the pipeline file.
func DecodeConfig(section core.Config) (Config, error) {
	cfg := DefaultConfig()
	var errs core.ConfigErrors
	errs.Add(section.Decode(&cfg))
	decoded := len(errs)
	for _, p := range cfg.problems(!reflect.DeepEqual(cfg.Emulator, asitest.DefaultOptions())) {
		e := section.Errorf(p.key, "%s", p.msg)
		// A value Decode could not read is reported once, by Decode.
		if !slices.ContainsFunc(errs[:decoded], func(d *core.ConfigError) bool { return d.Path == e.Path }) {
			errs.Add(e)
		}
	}
	return cfg, errs.Err()
}

// NewAPIClient returns a client of the service cfg names (not the emulator),
// authenticated as cfg says, for commands that call the API outside a run.
func NewAPIClient(cfg Config, hc *http.Client) (*Client, *Auth, error) {
	if cfg.emulated() {
		return nil, nil, fmt.Errorf("asi: base_url is %q: that emulator lives only as long as a run; start one with etl emulate asi and use its URL", Emulator)
	}
	if err := cfg.Check(); err != nil {
		return nil, nil, err
	}
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	auth := NewAuth(AuthOptions{BaseURL: cfg.BaseURL, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		Tokens: cfg.Tokens, Username: cfg.Username, Password: cfg.Password, RefreshBefore: cfg.RefreshBefore, HTTP: hc})
	c, err := NewClient(ClientOptions{BaseURL: cfg.BaseURL, Tokens: auth, HTTP: hc, Rate: cfg.Rate, Burst: cfg.Burst,
		Retries: cfg.Retries, RetryWait: cfg.RetryWait})
	return c, auth, err
}
