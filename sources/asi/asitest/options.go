package asitest

import (
	"errors"
	"fmt"
	"time"
)

// The one OAuth client the emulator knows, and the password of every seeded
// account.
const (
	ClientID     = "asi-emulator"
	ClientSecret = "asi-emulator-secret"
	Password     = "emulator"
)

// MaxLimit is the largest page size a list answers, as on the real service.
const MaxLimit = 3000

// Options shape the seeded world. Every generated value is a pure function of
// Seed and the ids, so two emulators with equal options serve equal data. The
// yaml tags let a pipeline's `emulator:` block and `etl emulate asi` set them.
type Options struct {
	Seed       int64 `yaml:"seed" doc:"seed of every generated value; equal seeds serve equal data" default:"1"`
	Managers   int   `yaml:"managers" doc:"seeded managers (manager1, manager2, ...); manager1 owns every device and runs every activity" default:"1"`
	Athletes   int   `yaml:"athletes" doc:"seeded athletes (athlete1, ...), each granting manager1 READ and WRITE" default:"4"`
	Devices    int   `yaml:"devices" doc:"seeded devices; athlete i wears device i in every activity" default:"4"`
	Activities int   `yaml:"activities" doc:"seeded activities, one a day from start, each with a time frame per athlete that wears a device" default:"2"`
	// Start is when the first activity begins.
	Start time.Time `yaml:"start" doc:"start of the first activity" default:"2026-03-02T09:00:00Z"`
	// Session is how long every seeded activity (and its time frames) lasts;
	// devices record from 5 minutes before to 5 minutes after.
	Session time.Duration `yaml:"session" doc:"length of every seeded activity" default:"1h30m"`
	// Rate is the GNSS samples per second of every device (the other groups
	// are 1 Hz or slower).
	Rate int `yaml:"rate" doc:"GNSS samples per second per device, 1 to 100" default:"1"`
	// Now is the simulated clock's first reading; zero means one hour after
	// the last seeded activity ends.
	Now time.Time `yaml:"now" doc:"the simulated clock's start (default: 1h after the last activity ends)"`
	// TokenLifetime is the lifetime of issued access tokens (real time).
	TokenLifetime time.Duration `yaml:"token_lifetime" doc:"lifetime of access tokens; short ones exercise refresh" default:"10h"`
	// PageLimit is the page size of a list request that gives no limit.
	PageLimit int `yaml:"page_limit" doc:"page size when a list request gives no limit (at most 3000)" default:"100"`
}

// DefaultOptions returns the options of an empty `emulator:` block.
func DefaultOptions() Options {
	return Options{
		Seed:          1,
		Managers:      1,
		Athletes:      4,
		Devices:       4,
		Activities:    2,
		Start:         time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
		Session:       90 * time.Minute,
		Rate:          1,
		TokenLifetime: 10 * time.Hour,
		PageLimit:     100,
	}
}

// Problem is one invalid option, named by its yaml key.
type Problem struct {
	Option string
	Msg    string
}

// Problems returns every invalid option.
func (o Options) Problems() []Problem {
	var ps []Problem
	add := func(opt, format string, args ...any) {
		ps = append(ps, Problem{opt, fmt.Sprintf(format, args...)})
	}
	counts := []struct {
		name string
		v    int
		min  int
	}{{"managers", o.Managers, 1}, {"athletes", o.Athletes, 0}, {"devices", o.Devices, 0}, {"activities", o.Activities, 0}}
	for _, c := range counts {
		if c.v < c.min || c.v > 100_000 {
			add(c.name, "must be between %d and 100000, got %d", c.min, c.v)
		}
	}
	if o.Start.IsZero() {
		add("start", "must be set")
	}
	if o.Session < time.Minute || o.Session > 7*24*time.Hour {
		add("session", "must be between 1m and 168h, got %s", o.Session)
	}
	if o.Rate < 1 || o.Rate > 100 {
		add("rate", "must be between 1 and 100 samples per second, got %d", o.Rate)
	}
	if o.TokenLifetime <= 0 {
		add("token_lifetime", "must be > 0, got %s", o.TokenLifetime)
	}
	if o.PageLimit < 1 || o.PageLimit > MaxLimit {
		add("page_limit", "must be between 1 and %d, got %d", MaxLimit, o.PageLimit)
	}
	return ps
}

func (o Options) check() error {
	var errs []error
	for _, p := range o.Problems() {
		errs = append(errs, fmt.Errorf("asitest: %s: %s", p.Option, p.Msg))
	}
	return errors.Join(errs...)
}

// sessionPad is how long devices record before and after an activity.
const sessionPad = 5 * time.Minute
