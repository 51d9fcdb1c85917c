package siunits

import (
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// Dimension is what a unit measures. Units convert only within one dimension.
type Dimension string

// The dimensions of the catalogue.
const (
	Length       Dimension = "length"
	Speed        Dimension = "speed"
	Acceleration Dimension = "acceleration"
	Time         Dimension = "time"
	Mass         Dimension = "mass"
	Energy       Dimension = "energy"
	Frequency    Dimension = "frequency"
	Angle        Dimension = "angle"
	Power        Dimension = "power"
	Count        Dimension = "count"
	Percent      Dimension = "percent"
)

// Unit is one unit of measure: its canonical name (what the `unit` field
// metadata says), the dimension it measures, and its exact size as a ratio of
// the dimension's coherent SI unit (kcal is 4184/1 J, ms is 1/1000 s, km/h is
// 5/18 m/s).
type Unit struct {
	// Name is the canonical name, e.g. "m/s²", "kcal", "1/min".
	Name string
	// Aliases are other accepted spellings, e.g. "m/s2" and "m/s^2" for "m/s²".
	Aliases []string
	// Dimension is what the unit measures.
	Dimension Dimension
	// Num and Den give the unit's size in the dimension's coherent SI unit as
	// the exact ratio Num/Den; both are positive.
	Num, Den int64
	// Suffix is appended (after "_") to a column's name when the transform's
	// suffix option is on: "m", "m_s", "kcal", "per_min".
	Suffix string
}

// The unit table. It is written out here rather than taken from a units
// library on purpose: the catalogue needs a few dozen units whose sizes are
// exact ratios (so that a conversion is one multiplication by an integer and
// one division by an integer, each exactly rounded), while the Go unit
// libraries we looked at (gonum/unit, martinlindhe/unit, bcicen/go-units) either
// have no unit names to parse from a pipeline file or store sizes as inexact
// float factors applied one value at a time.
var units = []Unit{
	{Name: "m", Aliases: []string{"meter", "metre"}, Dimension: Length, Num: 1, Den: 1, Suffix: "m"},
	{Name: "km", Dimension: Length, Num: 1000, Den: 1, Suffix: "km"},
	{Name: "cm", Dimension: Length, Num: 1, Den: 100, Suffix: "cm"},
	{Name: "mm", Dimension: Length, Num: 1, Den: 1000, Suffix: "mm"},
	{Name: "mi", Aliases: []string{"mile"}, Dimension: Length, Num: 201168, Den: 125, Suffix: "mi"}, // 1609.344 m
	{Name: "ft", Aliases: []string{"foot"}, Dimension: Length, Num: 381, Den: 1250, Suffix: "ft"},   // 0.3048 m

	{Name: "m/s", Dimension: Speed, Num: 1, Den: 1, Suffix: "m_s"},
	{Name: "km/h", Aliases: []string{"kph", "kmh"}, Dimension: Speed, Num: 5, Den: 18, Suffix: "km_h"},
	{Name: "mph", Aliases: []string{"mi/h"}, Dimension: Speed, Num: 1397, Den: 3125, Suffix: "mph"}, // 0.44704 m/s

	{Name: "m/s²", Aliases: []string{"m/s2", "m/s^2"}, Dimension: Acceleration, Num: 1, Den: 1, Suffix: "m_s2"},

	{Name: "s", Aliases: []string{"sec", "second"}, Dimension: Time, Num: 1, Den: 1, Suffix: "s"},
	{Name: "ms", Dimension: Time, Num: 1, Den: 1000, Suffix: "ms"},
	{Name: "us", Aliases: []string{"µs", "μs"}, Dimension: Time, Num: 1, Den: 1_000_000, Suffix: "us"},
	{Name: "min", Dimension: Time, Num: 60, Den: 1, Suffix: "min"},
	{Name: "h", Aliases: []string{"hour"}, Dimension: Time, Num: 3600, Den: 1, Suffix: "h"},

	{Name: "kg", Dimension: Mass, Num: 1, Den: 1, Suffix: "kg"},
	{Name: "g", Dimension: Mass, Num: 1, Den: 1000, Suffix: "g"},
	{Name: "lb", Dimension: Mass, Num: 45359237, Den: 100000000, Suffix: "lb"}, // 0.45359237 kg

	{Name: "J", Dimension: Energy, Num: 1, Den: 1, Suffix: "j"},
	{Name: "kJ", Dimension: Energy, Num: 1000, Den: 1, Suffix: "kj"},
	{Name: "cal", Dimension: Energy, Num: 523, Den: 125, Suffix: "cal"}, // thermochemical calorie, 4.184 J
	{Name: "kcal", Aliases: []string{"Cal"}, Dimension: Energy, Num: 4184, Den: 1, Suffix: "kcal"},

	{Name: "Hz", Aliases: []string{"1/s"}, Dimension: Frequency, Num: 1, Den: 1, Suffix: "hz"},
	{Name: "1/min", Aliases: []string{"bpm", "rpm", "/min"}, Dimension: Frequency, Num: 1, Den: 60, Suffix: "per_min"},

	{Name: "deg", Aliases: []string{"°", "degree"}, Dimension: Angle, Num: 1, Den: 1, Suffix: "deg"},

	{Name: "W", Dimension: Power, Num: 1, Den: 1, Suffix: "w"},
	{Name: "kW", Dimension: Power, Num: 1000, Den: 1, Suffix: "kw"},

	{Name: "1", Aliases: []string{"count"}, Dimension: Count, Num: 1, Den: 1, Suffix: "count"},
	{Name: "%", Aliases: []string{"percent"}, Dimension: Percent, Num: 1, Den: 1, Suffix: "pct"},
}

var unitByName = func() map[string]*Unit {
	m := map[string]*Unit{}
	for i := range units {
		u := &units[i]
		for _, n := range append([]string{u.Name}, u.Aliases...) {
			if _, dup := m[n]; dup {
				panic("siunits: unit name " + n + " defined twice")
			}
			m[n] = u
		}
	}
	return m
}()

// Units returns every known unit, grouped by dimension.
func Units() []Unit { return slices.Clone(units) }

// LookupUnit returns the unit named name (canonical name or alias, case-sensitive:
// "mm" is not "Mm").
func LookupUnit(name string) (Unit, bool) {
	u, ok := unitByName[name]
	if !ok {
		return Unit{}, false
	}
	return *u, true
}

// unitNames lists the canonical names of the units of dimension d, or of every
// unit when d is "", for "want one of" messages.
func unitNames(d Dimension) string {
	var names []string
	for _, u := range units {
		if d == "" || u.Dimension == d {
			names = append(names, u.Name)
		}
	}
	return strings.Join(names, ", ")
}

// maxExact is the largest integer every smaller integer of which a float64
// holds exactly.
const maxExact = 1 << 53

// Factor returns the exact factor that converts a value in unit from into unit
// to, as the reduced ratio num/den: a value v becomes v × num ÷ den. It fails
// when a unit is unknown or the two measure different dimensions.
func Factor(from, to string) (num, den int64, err error) {
	f, ok := unitByName[from]
	if !ok {
		return 0, 0, fmt.Errorf("siunits: unknown unit %q (want one of: %s)", from, unitNames(""))
	}
	t, ok := unitByName[to]
	if !ok {
		return 0, 0, fmt.Errorf("siunits: unknown unit %q (want one of: %s)", to, unitNames(""))
	}
	return factor(f, t)
}

func factor(f, t *Unit) (num, den int64, err error) {
	if f.Dimension != t.Dimension {
		return 0, 0, fmt.Errorf("siunits: cannot convert %s (%s) to %s (%s) (want one of: %s)",
			f.Name, f.Dimension, t.Name, t.Dimension, unitNames(f.Dimension))
	}
	r := new(big.Rat).SetFrac64(f.Num, f.Den)
	r.Quo(r, new(big.Rat).SetFrac64(t.Num, t.Den))
	n, d := r.Num(), r.Denom()
	if !n.IsInt64() || !d.IsInt64() || n.Int64() > maxExact || d.Int64() > maxExact {
		// Not reachable with the unit table above; kept so that a unit added
		// later cannot silently lose exactness.
		return 0, 0, fmt.Errorf("siunits: factor %s from %s to %s is too large to apply exactly", r, f.Name, t.Name)
	}
	return n.Int64(), d.Int64(), nil
}
