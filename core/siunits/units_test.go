package siunits

import (
	"testing"
)

// TestFactor checks the exact factor of every conversion the catalogue and
// the examples use.
func TestFactor(t *testing.T) {
	tests := []struct {
		from, to string
		num, den int64
	}{
		{"kcal", "J", 4184, 1},
		{"J", "kcal", 1, 4184},
		{"kcal", "kJ", 523, 125},
		{"cal", "J", 523, 125},
		{"ms", "s", 1, 1000},
		{"us", "ms", 1, 1000},
		{"h", "s", 3600, 1},
		{"min", "h", 1, 60},
		{"1/min", "Hz", 1, 60},
		{"bpm", "Hz", 1, 60},
		{"Hz", "1/min", 60, 1},
		{"km/h", "m/s", 5, 18},
		{"mph", "km/h", 25146, 15625},
		{"mi", "m", 201168, 125},
		{"mi", "km", 25146, 15625},
		{"ft", "m", 381, 1250},
		{"lb", "kg", 45359237, 100000000},
		{"lb", "g", 45359237, 100000},
		{"m/s2", "m/s²", 1, 1},
		{"kW", "W", 1000, 1},
		{"deg", "°", 1, 1},
		{"%", "percent", 1, 1},
	}
	for _, tc := range tests {
		num, den, err := Factor(tc.from, tc.to)
		if err != nil || num != tc.num || den != tc.den {
			t.Errorf("Factor(%s, %s): got %d/%d, %v; want %d/%d", tc.from, tc.to, num, den, err, tc.num, tc.den)
		}
	}
}

func TestFactorErrors(t *testing.T) {
	tests := []struct {
		from, to, want string
	}{
		{"m", "s", "siunits: cannot convert m (length) to s (time) (want one of: m, km, cm, mm, mi, ft)"},
		{"kcal", "W", "siunits: cannot convert kcal (energy) to W (power) (want one of: J, kJ, cal, kcal)"},
		{"1", "%", "siunits: cannot convert 1 (count) to % (percent) (want one of: 1)"},
		{"M", "m", `siunits: unknown unit "M" (want one of: m, km, cm, mm, mi, ft, m/s, km/h, mph, m/s², s, ms, us, min, h, kg, g, lb, J, kJ, cal, kcal, Hz, 1/min, deg, W, kW, 1, %)`},
		{"m", "", `siunits: unknown unit "" (want one of: m, km, cm, mm, mi, ft, m/s, km/h, mph, m/s², s, ms, us, min, h, kg, g, lb, J, kJ, cal, kcal, Hz, 1/min, deg, W, kW, 1, %)`},
	}
	for _, tc := range tests {
		_, _, err := Factor(tc.from, tc.to)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Factor(%q, %q): got error %v, want %s", tc.from, tc.to, err, tc.want)
		}
	}
}

// TestUnitTable checks the table's invariants: every dimension has its SI
// unit (size 1/1), every size is a reduced positive ratio, suffixes are
// distinct lowercase identifiers.
func TestUnitTable(t *testing.T) {
	si := map[Dimension]bool{}
	suffixes := map[string]string{}
	for _, u := range Units() {
		if u.Num <= 0 || u.Den <= 0 || gcd(u.Num, u.Den) != 1 {
			t.Errorf("unit %s: got size %d/%d, want a reduced positive ratio", u.Name, u.Num, u.Den)
		}
		if u.Num == 1 && u.Den == 1 {
			si[u.Dimension] = true
		}
		for _, r := range u.Suffix {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
				t.Errorf("unit %s: got suffix %q, want [a-z0-9_]", u.Name, u.Suffix)
				break
			}
		}
		if prev, dup := suffixes[u.Suffix]; dup {
			t.Errorf("unit %s: suffix %q is also %s's", u.Name, u.Suffix, prev)
		}
		suffixes[u.Suffix] = u.Name
	}
	for _, u := range Units() {
		if !si[u.Dimension] {
			t.Errorf("dimension %s: got no unit of size 1/1, want its SI unit", u.Dimension)
		}
	}
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// TestCatalogue checks that every entry's unit is known and measures its
// quantity, and every pattern is valid.
func TestCatalogue(t *testing.T) {
	for _, e := range Catalogue() {
		if !match(e.Stream, e.Stream) || !match(e.Path, e.Path) {
			t.Errorf("entry %s:%s: invalid pattern", e.Stream, e.Path)
		}
		if e.Quantity == QNone {
			if e.Unit != "" {
				t.Errorf("entry %s:%s: got unit %q for a field that is no measurement, want none", e.Stream, e.Path, e.Unit)
			}
			continue
		}
		u, ok := LookupUnit(e.Unit)
		switch {
		case !ok:
			t.Errorf("entry %s:%s: got unknown unit %q", e.Stream, e.Path, e.Unit)
		case u.Dimension != e.Quantity.dimension():
			t.Errorf("entry %s:%s: got unit %s (%s) for a %s", e.Stream, e.Path, e.Unit, u.Dimension, e.Quantity)
		}
	}
}

// TestCatalogueCoversContracts checks that every numeric field of the two API
// contracts (shared/api/azumio.md, shared/api/asi.md) has a catalogue entry,
// under the stream the sources emit it in.
func TestCatalogueCoversContracts(t *testing.T) {
	fields := map[string][]string{
		"azumio.checkins.steps": {"version", "timestamp", "created", "modified", "start", "end", "timezone", "privacy",
			"value", "steps", "distance", "activeDuration", "calories", "walkCalories", "basalCalories"},
		"azumio.checkins.sleeptime":      {"value", "timestamp", "timezone"},
		"azumio.checkins.drink":          {"value", "version"},
		"azumio.fragments.steps_profile": {"interval", "start", "values"},
		"azumio.fragments.path":          {"t", "lat", "lon", "alt", "points.t", "points.lat", "points.lon", "points.alt"},
		"asi.computed": {"timeframe", "total_distance", "max_speed", "average_speed", "last_timestamp",
			"accelerations.threshold_1.threshold", "accelerations.threshold_2.values",
			"decelerations.threshold_1.threshold", "decelerations.threshold_2.values"},
		"asi.preprocessed.gnss":   {"timestamp", "longitude", "latitude", "speed", "altitude"},
		"asi.preprocessed.ecg":    {"timestamp", "hr"},
		"asi.preprocessed.pwr":    {"timestamp", "pwr_cadence", "pwr_instantpower"},
		"asi.preprocessed.device": {"timestamp", "standstill", "Bat_lvl"},
		"asi.preprocessed": {"gnss.timestamp", "gnss.longitude", "gnss.latitude", "gnss.speed", "gnss.altitude",
			"ecg.timestamp", "ecg.hr", "pwr.timestamp", "pwr.pwr_cadence", "pwr.pwr_instantpower",
			"device.timestamp", "device.standstill", "device.Bat_lvl"},
		"asi.athletes": {"weight", "height", "max_heart_rate"},
	}
	for stream, paths := range fields {
		for _, p := range paths {
			if _, ok := lookupEntry(stream, p); !ok {
				t.Errorf("%s:%s: got no catalogue entry, want one", stream, p)
			}
		}
	}
}
