package siunits

import (
	"context"
	"strings"
	"testing"

	"github.com/etl-toolkit/etl/core"
)

// TestConfigErrors checks that every problem of a config section is reported at
// once, each at its file:line:col with the field path and what is allowed.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "unknown unit",
			src: `fields:
  calories:
    to: kcl
`,
			want: []string{`pipeline.yaml:3:9: transforms[0].config.fields.calories.to: unknown unit "kcl" (want one of: J, kJ, cal, kcal)`},
		},
		{
			name: "incompatible units",
			src: `fields:
  distance: {from: m, to: s}
`,
			want: []string{`pipeline.yaml:2:27: transforms[0].config.fields.distance.to: cannot use s (time) for distance, which is length (want one of: m, km, cm, mm, mi, ft)`},
		},
		{
			name: "field in no stream",
			src: `fields:
  distanse: {to: km}
`,
			want: []string{`pipeline.yaml:2:13: transforms[0].config.fields.distanse: unknown field "distanse": no stream of the unit catalogue has it (write STREAM:PATH for one stream; streams: ` +
				`azumio.checkins.steps, azumio.checkins.heartrate, azumio.checkins.weight, azumio.checkins.sleeptime, azumio.checkins.*, ` +
				`azumio.fragments.steps_profile, azumio.fragments.path, azumio.profile, asi.computed, asi.preprocessed.*, asi.preprocessed.gnss, ` +
				`asi.preprocessed.ecg, asi.preprocessed.pwr, asi.preprocessed.device, asi.preprocessed, asi.athletes)`},
		},
		{
			name: "field not in the named stream",
			src: `fields:
  "asi.computed:distance": {to: km}
`,
			want: []string{`pipeline.yaml:2:28: transforms[0].config.fields.asi.computed:distance: unknown field "distance" in stream asi.computed (the unit catalogue knows: ` +
				`timeframe, total_distance, max_speed, average_speed, last_timestamp, accelerations.*.threshold, decelerations.*.threshold, accelerations.*.values, decelerations.*.values)`},
		},
		{
			name: "unknown stream",
			src: `fields:
  "asi.computd:max_speed": {to: km/h}
`,
			want: []string{`pipeline.yaml:2:28: transforms[0].config.fields.asi.computd:max_speed: unknown stream "asi.computd" (the unit catalogue knows: ` +
				`azumio.checkins.steps, azumio.checkins.heartrate, azumio.checkins.weight, azumio.checkins.sleeptime, azumio.checkins.*, ` +
				`azumio.fragments.steps_profile, azumio.fragments.path, azumio.profile, asi.computed, asi.preprocessed.*, asi.preprocessed.gnss, ` +
				`asi.preprocessed.ecg, asi.preprocessed.pwr, asi.preprocessed.device, asi.preprocessed, asi.athletes)`},
		},
		{
			name: "options with fixed choices",
			src: `energy: cal
heart_rate: kHz
`,
			want: []string{
				`pipeline.yaml:1:9: transforms[0].config.energy: unknown unit "cal" (want one of: J, kcal)`,
				`pipeline.yaml:2:13: transforms[0].config.heart_rate: unknown unit "kHz" (want one of: 1/min, Hz)`,
			},
		},
		{
			name: "a point in time takes only from",
			src: `fields:
  timestamp: {to: s}
  modified: {from: h}
  timezone: {keep: h}
`,
			want: []string{
				`pipeline.yaml:2:14: transforms[0].config.fields.timestamp: timestamp is a point in time and becomes an Arrow timestamp (UTC); only from (s, ms or us) applies`,
				`pipeline.yaml:3:20: transforms[0].config.fields.modified.from: a point in time must be a UNIX number of s, ms or us, got h`,
				`pipeline.yaml:4:13: transforms[0].config.fields.timezone: timezone is a UTC offset and becomes utc_offset_s (int32 seconds); only from applies`,
			},
		},
		{
			name: "not a measurement, empty, ambiguous, malformed",
			src: `fields:
  version: {to: s}
  distance: {}
  value: {to: kg}
  ":distance": {to: km}
  "[x:distance": {to: km}
`,
			want: []string{
				`pipeline.yaml:2:12: transforms[0].config.fields.version: version is not a measurement (record version, grows on every change): it has no unit to convert`,
				`pipeline.yaml:3:13: transforms[0].config.fields.distance: empty override (want at least one of: from, to, keep)`,
				`pipeline.yaml:4:10: transforms[0].config.fields.value: names fields of different kinds (count in azumio.checkins.steps, heart_rate in azumio.checkins.heartrate); name one stream with STREAM:PATH`,
				`pipeline.yaml:5:16: transforms[0].config.fields.:distance: want PATH or STREAM:PATH, got ":distance"`,
				`pipeline.yaml:6:18: transforms[0].config.fields.[x:distance: invalid pattern "[x": syntax error in pattern`,
			},
		},
		{
			name: "unknown keys, bad streams, all at once",
			src: `sufix: true
streams: ["[", azumio.*]
fields:
  calories: {to: kcal, unit: J}
  "azumio.checkins.*:distance": {from: furlong}
`,
			want: []string{
				`pipeline.yaml:1:1: transforms[0].config.sufix: unknown key (known keys: fields, suffix, heart_rate, energy, streams)`,
				`pipeline.yaml:2:11: transforms[0].config.streams[0]: invalid stream pattern "[" (want a stream name or a pattern like azumio.*)`,
				`pipeline.yaml:4:24: transforms[0].config.fields.calories.unit: unknown key (known keys: from, to, keep)`,
				`pipeline.yaml:5:40: transforms[0].config.fields.azumio.checkins.*:distance.from: unknown unit "furlong" (want one of: m, km, cm, mm, mi, ft)`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := core.NewConfig("pipeline.yaml", "transforms[0].config", []byte(tc.src))
			if err != nil {
				t.Fatalf("NewConfig: %v", err)
			}
			_, err = newFromEnv(context.Background(), core.Env{Config: c})
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got errors\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestConfigValid checks configs that must build, among them every catalogue
// pattern written as a key.
func TestConfigValid(t *testing.T) {
	srcs := []string{
		"",
		"energy: kcal\nheart_rate: Hz\nsuffix: true\nstreams: [azumio.*, asi.computed]",
		"fields: {calories: {to: kcal}, 'azumio.checkins.steps:distance': {from: mi, to: km, keep: m}}",
		"fields: {'asi.computed:accelerations.*.threshold': {to: m/s2}, 'asi.preprocessed:gnss.speed': {to: km/h}}",
		"fields: {'asi.preprocessed.gnss:speed': {from: kph}, timestamp: {from: us}, timezone: {from: min}}",
		"fields: {'azumio.checkins.*:calories': {keep: kcal}, 'azumio.*:distance': {to: mi}}",
	}
	for _, src := range srcs {
		c, err := core.NewConfig("pipeline.yaml", "transforms[0].config", []byte(src))
		if err != nil {
			t.Fatalf("NewConfig(%q): %v", src, err)
		}
		if _, err := newFromEnv(context.Background(), core.Env{Config: c}); err != nil {
			t.Errorf("config %q: got error\n%v\nwant none", src, err)
		}
	}
}

// TestNewErrors checks that New, which has no file to point at, names the key.
func TestNewErrors(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Energy = "Wh"
	cfg.Fields = map[string]Field{"distance": {To: "kg"}}
	_, err := New(cfg, nil, nil)
	want := `siunits: energy: unknown unit "Wh" (want one of: J, kcal)` + "\n" +
		`siunits: fields.distance.to: cannot use kg (mass) for distance, which is length (want one of: m, km, cm, mm, mi, ft)`
	if err == nil || err.Error() != want {
		t.Errorf("got error\n%v\nwant\n%s", err, want)
	}
}

// TestRegistered checks that the plugin is in core's registry with its options.
func TestRegistered(t *testing.T) {
	f, ok := core.LookupTransform("si_units")
	if !ok {
		t.Fatal("si_units: got not registered, want registered")
	}
	if _, ok := f.Options.(Config); !ok {
		t.Errorf("Options: got %T, want siunits.Config", f.Options)
	}
}
