package siunits

import (
	"path"
	"slices"
)

// Quantity says what a catalogued field is, which decides what it becomes.
type Quantity string

// The quantities of the catalogue and what each becomes.
const (
	// QLength, QSpeed, QAcceleration, QDuration, QMass, QPower and QAngle
	// become m, m/s, m/s², s, kg, W and deg.
	QLength       Quantity = "length"
	QSpeed        Quantity = "speed"
	QAcceleration Quantity = "acceleration"
	QDuration     Quantity = "duration"
	QMass         Quantity = "mass"
	QPower        Quantity = "power"
	QAngle        Quantity = "angle"
	// QEnergy becomes the unit of the `energy` option (J by default).
	QEnergy Quantity = "energy"
	// QHeartRate becomes the unit of the `heart_rate` option (1/min by default).
	QHeartRate Quantity = "heart_rate"
	// QCadence (revolutions per minute) stays in 1/min, the unit every reader
	// of cycling data expects; a per-field override can still ask for Hz.
	QCadence Quantity = "cadence"
	// QFrequency is any other frequency: it becomes Hz.
	QFrequency Quantity = "frequency"
	// QCount (steps) and QPercent (battery level) are dimensionless: they keep
	// their values and get unit "1" or "%".
	QCount   Quantity = "count"
	QPercent Quantity = "percent"
	// QInstant is a point in time as a UNIX number (ms unless the unit says
	// otherwise): it becomes an Arrow timestamp in UTC.
	QInstant Quantity = "instant"
	// QUTCOffset is a UTC offset in hours (Azumio's `timezone`): it becomes an
	// int32 column `utc_offset_s` in seconds.
	QUTCOffset Quantity = "utc_offset"
	// QNone is a number that is no measurement (an id, a version, a code): it
	// is left as it is.
	QNone Quantity = "none"
)

// Entry is one field of the unit catalogue.
type Entry struct {
	// Stream is a path.Match pattern of the streams that have the field, e.g.
	// "azumio.checkins.*".
	Stream string
	// Path is the field's path: column names separated by dots, through
	// structs ("accelerations.threshold_1.threshold"); lists are transparent (the
	// path of a list column names its elements). It is a path.Match pattern.
	Path string
	// Quantity says what the field is.
	Quantity Quantity
	// Unit is the unit the API sends the field in ("" for QNone).
	Unit string
	// Note says where the unit comes from when the API contract does not state
	// it, or what the field means.
	Note string
}

// catalogue lists every numeric field of the Azumio and ASI APIs (see the
// contracts in shared/api), the more specific entries first: the first entry
// matching a stream and path wins.
var catalogue = []Entry{
	// Azumio check-ins, all types (the documented steps check-in).
	{Stream: "azumio.checkins.steps", Path: "value", Quantity: QCount, Unit: "1", Note: "the steps check-in's value is its step count"},
	{Stream: "azumio.checkins.heartrate", Path: "value", Quantity: QHeartRate, Unit: "1/min", Note: "assumed: a heart-rate check-in's value in beats per minute"},
	{Stream: "azumio.checkins.weight", Path: "value", Quantity: QMass, Unit: "kg", Note: "assumed: body weight in kg (the API's SI rule)"},
	{Stream: "azumio.checkins.sleeptime", Path: "value", Quantity: QDuration, Unit: "s", Note: "assumed: time asleep in s (the API's SI rule)"},
	{Stream: "azumio.checkins.*", Path: "value", Quantity: QNone, Note: "meaning depends on the check-in type; undocumented for drink and workout_log"},
	{Stream: "azumio.checkins.*", Path: "version", Quantity: QNone, Note: "record version, grows on every change"},
	{Stream: "azumio.checkins.*", Path: "privacy", Quantity: QNone, Note: "privacy level code"},
	{Stream: "azumio.checkins.*", Path: "timestamp", Quantity: QInstant, Unit: "ms"},
	{Stream: "azumio.checkins.*", Path: "created", Quantity: QInstant, Unit: "ms"},
	{Stream: "azumio.checkins.*", Path: "modified", Quantity: QInstant, Unit: "ms"},
	{Stream: "azumio.checkins.*", Path: "start", Quantity: QInstant, Unit: "ms"},
	{Stream: "azumio.checkins.*", Path: "end", Quantity: QInstant, Unit: "ms"},
	{Stream: "azumio.checkins.*", Path: "timezone", Quantity: QUTCOffset, Unit: "h", Note: "UTC offset of the user's clock, in hours (-8, 5.5)"},
	{Stream: "azumio.checkins.*", Path: "steps", Quantity: QCount, Unit: "1"},
	{Stream: "azumio.checkins.*", Path: "distance", Quantity: QLength, Unit: "m"},
	{Stream: "azumio.checkins.*", Path: "activeDuration", Quantity: QDuration, Unit: "s"},
	{Stream: "azumio.checkins.*", Path: "calories", Quantity: QEnergy, Unit: "kcal", Note: "kilocalories despite the API's SI rule"},
	{Stream: "azumio.checkins.*", Path: "walkCalories", Quantity: QEnergy, Unit: "kcal"},
	{Stream: "azumio.checkins.*", Path: "basalCalories", Quantity: QEnergy, Unit: "kcal"},

	// Azumio fragments, in the shapes the emulator serves (assumed by the contract).
	{Stream: "azumio.fragments.steps_profile", Path: "interval", Quantity: QDuration, Unit: "s", Note: "assumed: seconds per value"},
	{Stream: "azumio.fragments.steps_profile", Path: "start", Quantity: QInstant, Unit: "ms"},
	{Stream: "azumio.fragments.steps_profile", Path: "t", Quantity: QInstant, Unit: "ms", Note: "start of one interval, when the source emits a row per interval"},
	{Stream: "azumio.fragments.steps_profile", Path: "values", Quantity: QCount, Unit: "1", Note: "steps per interval"},
	{Stream: "azumio.fragments.steps_profile", Path: "steps", Quantity: QCount, Unit: "1", Note: "steps of one interval, when the source emits a row per interval"},
	{Stream: "azumio.fragments.path", Path: "t", Quantity: QInstant, Unit: "ms"},
	{Stream: "azumio.fragments.path", Path: "lat", Quantity: QAngle, Unit: "deg"},
	{Stream: "azumio.fragments.path", Path: "lon", Quantity: QAngle, Unit: "deg"},
	{Stream: "azumio.fragments.path", Path: "alt", Quantity: QLength, Unit: "m"},
	{Stream: "azumio.fragments.path", Path: "points.t", Quantity: QInstant, Unit: "ms", Note: "when the source keeps the points as a list of structs"},
	{Stream: "azumio.fragments.path", Path: "points.lat", Quantity: QAngle, Unit: "deg"},
	{Stream: "azumio.fragments.path", Path: "points.lon", Quantity: QAngle, Unit: "deg"},
	{Stream: "azumio.fragments.path", Path: "points.alt", Quantity: QLength, Unit: "m"},

	// Azumio profile: no numeric field is documented; these are assumed.
	{Stream: "azumio.profile", Path: "weight", Quantity: QMass, Unit: "kg", Note: "assumed (the API's SI rule)"},
	{Stream: "azumio.profile", Path: "height", Quantity: QLength, Unit: "m", Note: "assumed (the API's SI rule)"},

	// ASI computed data (per time frame).
	{Stream: "asi.computed", Path: "timeframe", Quantity: QNone, Note: "time frame id (activity-wide messages)"},
	{Stream: "asi.computed", Path: "total_distance", Quantity: QLength, Unit: "m"},
	{Stream: "asi.computed", Path: "max_speed", Quantity: QSpeed, Unit: "m/s"},
	{Stream: "asi.computed", Path: "average_speed", Quantity: QSpeed, Unit: "m/s"},
	{Stream: "asi.computed", Path: "last_timestamp", Quantity: QInstant, Unit: "ms", Note: "a float in the API"},
	{Stream: "asi.computed", Path: "accelerations.*.threshold", Quantity: QAcceleration, Unit: "m/s²"},
	{Stream: "asi.computed", Path: "decelerations.*.threshold", Quantity: QAcceleration, Unit: "m/s²"},
	{Stream: "asi.computed", Path: "accelerations.*.values", Quantity: QNone, Note: "meaning undocumented"},
	{Stream: "asi.computed", Path: "decelerations.*.values", Quantity: QNone, Note: "meaning undocumented"},

	// ASI preprocessed data: one stream per group (asi.preprocessed.gnss:speed),
	// or one stream with a column per group (asi.preprocessed:gnss.speed);
	// either way a field may be one sample per row or a list of samples.
	{Stream: "asi.preprocessed.*", Path: "timestamp", Quantity: QInstant, Unit: "ms"},
	{Stream: "asi.preprocessed.gnss", Path: "longitude", Quantity: QAngle, Unit: "deg"},
	{Stream: "asi.preprocessed.gnss", Path: "latitude", Quantity: QAngle, Unit: "deg"},
	{Stream: "asi.preprocessed.gnss", Path: "speed", Quantity: QSpeed, Unit: "m/s"},
	{Stream: "asi.preprocessed.gnss", Path: "altitude", Quantity: QLength, Unit: "m"},
	{Stream: "asi.preprocessed.ecg", Path: "hr", Quantity: QHeartRate, Unit: "1/min", Note: "assumed: beats per minute"},
	{Stream: "asi.preprocessed.pwr", Path: "pwr_cadence", Quantity: QCadence, Unit: "1/min", Note: "assumed: revolutions per minute"},
	{Stream: "asi.preprocessed.pwr", Path: "pwr_instantpower", Quantity: QPower, Unit: "W", Note: "assumed: watts"},
	{Stream: "asi.preprocessed.device", Path: "standstill", Quantity: QNone, Note: "flag"},
	{Stream: "asi.preprocessed.device", Path: "Bat_lvl", Quantity: QPercent, Unit: "%", Note: "assumed: battery level in percent"},
	{Stream: "asi.preprocessed", Path: "*.timestamp", Quantity: QInstant, Unit: "ms"},
	{Stream: "asi.preprocessed", Path: "gnss.longitude", Quantity: QAngle, Unit: "deg"},
	{Stream: "asi.preprocessed", Path: "gnss.latitude", Quantity: QAngle, Unit: "deg"},
	{Stream: "asi.preprocessed", Path: "gnss.speed", Quantity: QSpeed, Unit: "m/s"},
	{Stream: "asi.preprocessed", Path: "gnss.altitude", Quantity: QLength, Unit: "m"},
	{Stream: "asi.preprocessed", Path: "ecg.hr", Quantity: QHeartRate, Unit: "1/min", Note: "assumed: beats per minute"},
	{Stream: "asi.preprocessed", Path: "pwr.pwr_cadence", Quantity: QCadence, Unit: "1/min", Note: "assumed: revolutions per minute"},
	{Stream: "asi.preprocessed", Path: "pwr.pwr_instantpower", Quantity: QPower, Unit: "W", Note: "assumed: watts"},
	{Stream: "asi.preprocessed", Path: "device.standstill", Quantity: QNone, Note: "flag"},
	{Stream: "asi.preprocessed", Path: "device.Bat_lvl", Quantity: QPercent, Unit: "%", Note: "assumed: battery level in percent"},

	// ASI athletes (profile data; stream name assumed).
	{Stream: "asi.athletes", Path: "weight", Quantity: QMass, Unit: "kg"},
	{Stream: "asi.athletes", Path: "height", Quantity: QLength, Unit: "m"},
	{Stream: "asi.athletes", Path: "max_heart_rate", Quantity: QHeartRate, Unit: "1/min", Note: "assumed: beats per minute"},
}

// Catalogue returns the unit catalogue, in the order it is searched: the first
// entry whose Stream and Path patterns match a field wins.
func Catalogue() []Entry { return slices.Clone(catalogue) }

// lookupEntry returns the catalogue entry of the field at fieldPath in stream.
func lookupEntry(stream, fieldPath string) (Entry, bool) {
	for _, e := range catalogue {
		if match(e.Stream, stream) && match(e.Path, fieldPath) {
			return e, true
		}
	}
	return Entry{}, false
}

// match reports whether name matches the path.Match pattern; '*' matches any
// run of characters, dots included, so "azumio.*" covers every Azumio stream.
// A pattern also matches itself literally, so a pipeline key written as a
// catalogue pattern ("accelerations.*.threshold") names that entry.
func match(pattern, name string) bool {
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

// dimension returns the dimension a quantity's values have, "" for QNone.
func (q Quantity) dimension() Dimension {
	switch q {
	case QLength:
		return Length
	case QSpeed:
		return Speed
	case QAcceleration:
		return Acceleration
	case QDuration, QInstant, QUTCOffset:
		return Time
	case QMass:
		return Mass
	case QPower:
		return Power
	case QAngle:
		return Angle
	case QEnergy:
		return Energy
	case QHeartRate, QCadence, QFrequency:
		return Frequency
	case QCount:
		return Count
	case QPercent:
		return Percent
	}
	return ""
}

// quantityOf returns the quantity of a field known only by its unit's dimension
// (a `unit` metadata key on a field the catalogue does not list).
func quantityOf(d Dimension) Quantity {
	switch d {
	case Length:
		return QLength
	case Speed:
		return QSpeed
	case Acceleration:
		return QAcceleration
	case Time:
		return QDuration
	case Mass:
		return QMass
	case Energy:
		return QEnergy
	case Frequency:
		return QFrequency
	case Angle:
		return QAngle
	case Power:
		return QPower
	case Count:
		return QCount
	case Percent:
		return QPercent
	}
	return QNone
}
