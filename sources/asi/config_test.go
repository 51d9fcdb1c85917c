package asi

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/core"
)

func build(t *testing.T, section string) (*Source, error) {
	t.Helper()
	c, err := core.NewConfig("p.yaml", "source.config", []byte(section))
	if err != nil {
		t.Fatalf("NewConfig: %v", err)
	}
	f, ok := core.LookupSource("asi")
	if !ok {
		t.Fatal("asi is not registered")
	}
	src, err := f.New(context.Background(), core.Env{Pipeline: "test", Config: c})
	if err != nil {
		return nil, err
	}
	return src.(*Source), nil
}

const goodSection = "client_id: c\nclient_secret: s\ntokens: ./t.json\n"

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		section string
		want    []string
	}{
		{"no credentials", "base_url: https://api.asi.swiss\n", []string{
			"p.yaml:1:1: source.config.client_id: missing (the OAuth client id ASI registered for you)",
			"p.yaml:1:1: source.config.client_secret: missing (write ${ASI_CLIENT_SECRET} and set the variable)",
			"p.yaml:1:1: source.config.tokens: missing: give a tokens file (run etl auth asi to fill it) or username and password",
		}},
		{"bad base URL", goodSection + "base_url: ftp://x\n", []string{
			`p.yaml:4:11: source.config.base_url: want an http(s) URL like https://api.asi.swiss, or "emulator", got "ftp://x"`,
		}},
		{"username without password", goodSection + "username: m\n", []string{
			"p.yaml:1:1: source.config.password: username and password go together (the password grant needs both)",
		}},
		{"streams and sizes", goodSection + "streams: [computed, raw]\npage_size: 5000\nrate: 0\nsettle: -1s\n", []string{
			`p.yaml:4:21: source.config.streams[1]: unknown stream "raw" (want one of: metadata, athletes, devices, activities, timeframes, permissions, computed, preprocessed, live_preprocessed, live_computed)`,
			"p.yaml:5:12: source.config.page_size: must be between 1 and 3000, got 5000",
			"p.yaml:6:7: source.config.rate: must be > 0 requests per second, got 0",
			"p.yaml:7:9: source.config.settle: must not be negative, got -1s",
		}},
		{"time range", goodSection + "since: 2026-03-02\nuntil: 2026-03-01\n", []string{
			"p.yaml:5:8: source.config.until: must be after since (2026-03-02T00:00:00Z)",
		}},
		{"assumed paths", goodSection + "api:\n  timeframe_computed: /api/v1/timeframes/{id}/computed-data/\n  preprocessed: /api/v1/devices/{device}/preprocessed-data\n  time_format: iso\n", []string{
			`p.yaml:5:23: source.config.api.timeframe_computed: want a path with {timeframe} in it, got "/api/v1/timeframes/{id}/computed-data/"`,
			`p.yaml:6:17: source.config.api.preprocessed: want a path ending with / (the API answers 404 without it), got "/api/v1/devices/{device}/preprocessed-data"`,
			`p.yaml:7:16: source.config.api.time_format: unknown value "iso" (want rfc3339 or unix_ms)`,
		}},
		{"emulator block without the emulator", goodSection + "emulator: { devices: 3 }\n", []string{
			"p.yaml:4:11: source.config.emulator: only used with base_url: emulator",
		}},
		{"emulator options", "base_url: emulator\nemulator: { rate: 500, managers: 0 }\n", []string{
			"p.yaml:2:19: source.config.emulator.rate: must be between 1 and 100 samples per second, got 500",
			"p.yaml:2:34: source.config.emulator.managers: must be between 1 and 100000, got 0",
		}},
		{"unknown key", goodSection + "page: 3\n", []string{
			"p.yaml:4:1: source.config.page: unknown key (known keys: base_url, client_id, client_secret, username, password, tokens, emulator, streams, groups, activities, timeframes, athletes, devices, since, until, history, settle, page_size, rate, burst, retries, retry_wait, timeout, refresh_before, live, api)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(t, tt.section)
			if err == nil {
				t.Fatalf("New: got no error, want\n%s", strings.Join(tt.want, "\n"))
			}
			var errs core.ConfigErrors
			if !errors.As(err, &errs) {
				t.Errorf("New: got error of type %T, want core.ConfigErrors", err)
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tt.want) {
				t.Errorf("New: got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	src, err := build(t, goodSection)
	if err != nil {
		t.Fatal(err)
	}
	c := src.cfg
	if c.BaseURL != DefaultBaseURL || !slices.Equal(c.Streams, []string{"metadata", "computed"}) || c.PageSize != 1000 ||
		c.Settle != time.Minute || c.API.Window != 48*time.Hour || c.API.RangesWindow != 14*24*time.Hour ||
		c.API.TimeframeComputed != "/api/v1/timeframes/{timeframe}/computed-data/" || c.API.StartParam != "start" {
		t.Errorf("defaults: got %+v", c)
	}
	src, err = build(t, "base_url: emulator\nemulator: { devices: 9 }\n")
	if err != nil {
		t.Fatal(err)
	}
	if src.cfg.Emulator.Devices != 9 || src.cfg.Emulator.Athletes != 4 {
		t.Errorf("emulator block: got %+v, want devices 9 and the other defaults", src.cfg.Emulator)
	}
	// Every option is documented for etl plugins and the pipeline schema.
	for _, o := range core.Options(Config{}) {
		if o.Doc == "" {
			t.Errorf("option %s has no doc", o.Name)
		}
	}
}

func TestNewSourceErrors(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PageSize = 0
	_, err := NewSource(cfg, Options{})
	want := []string{
		"asi: client_id: missing (the OAuth client id ASI registered for you)",
		"asi: client_secret: missing (write ${ASI_CLIENT_SECRET} and set the variable)",
		"asi: tokens: missing: give a tokens file (run etl auth asi to fill it) or username and password",
		"asi: page_size: must be between 1 and 3000, got 0",
	}
	if err == nil || !slices.Equal(strings.Split(err.Error(), "\n"), want) {
		t.Errorf("got\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
}
