package azumio

import (
	"strconv"
	"strings"
	unicode8 "unicode/utf8"
	"unsafe"
)

// Direct decoding: the scanner, which already finds every member's raw value,
// also converts the values of the known members into checkinJSON, so that a
// page is read once instead of twice (scanner, then goccy/go-json).
//
// Hand-written, measured: on the replay benchmark (1 M steps check-ins, zstd
// archive) go-json's pass over the page cost 0.48 CPU-s per million check-ins
// beside the scanner's 0.37; converting the values the scanner has found costs
// a fraction of that (see the Speed section of doc.go for the figures).
//
// It only takes the values whose meaning is certain: strings without escapes
// or control bytes in valid UTF-8, numbers in JSON's grammar that fit their
// field, true/false, flat arrays of such strings. Anything else (an escape, a
// value of the wrong kind, a key that differs from a known one only in case,
// which go-json would match) makes the page fall back to go-json, so a page
// decodes exactly as go-json decodes it.

// directValue converts val, the raw JSON of known member k (not null), into c;
// plain tells that val is a string of printable ASCII without escapes. It
// reports false when go-json must decide.
func (p *page) directValue(c *checkinJSON, k int, val []byte, plain bool) bool {
	switch k {
	case kRemoteID:
		return directString(val, plain, &c.RemoteID)
	case kID:
		return directString(val, plain, &c.ID)
	case kType:
		return directString(val, plain, &c.Type)
	case kUserID:
		return directString(val, plain, &c.UserID)
	case kClientID:
		return directString(val, plain, &c.ClientID)
	case kLive:
		switch string(val) {
		case "true":
			c.Live = true
		case "false":
			c.Live = false
		default:
			return false
		}
		return true
	case kPrivacyGroups:
		return p.directStrings(val, &c.PrivacyGroups)
	}
	n, ok := parseNumber(val)
	return ok && directNumber(c, k, n, val)
}

// directNumber converts the number n, read from raw, into member k of c, as
// directValue does raw, for the scanner that reads numbers as it scans them.
func directNumber(c *checkinJSON, k int, n number, raw []byte) bool {
	switch k {
	case kVersion:
		return intOf(n, raw, &c.Version)
	case kTimestamp:
		return intOf(n, raw, &c.Timestamp)
	case kCreated:
		return intOf(n, raw, &c.Created)
	case kModified:
		return intOf(n, raw, &c.Modified)
	case kStart:
		return intOf(n, raw, &c.Start)
	case kEnd:
		return intOf(n, raw, &c.End)
	case kPrivacy:
		return intOf(n, raw, &c.Privacy)
	case kTimezone:
		return floatOf(n, raw, &c.Timezone)
	case kValue:
		return floatOf(n, raw, &c.Value)
	case kSteps:
		return floatOf(n, raw, &c.Steps)
	case kDistance:
		return floatOf(n, raw, &c.Distance)
	case kActiveDuration:
		return floatOf(n, raw, &c.ActiveDuration)
	case kCalories:
		return floatOf(n, raw, &c.Calories)
	case kWalkCalories:
		return floatOf(n, raw, &c.WalkCalories)
	case kBasalCalories:
		return floatOf(n, raw, &c.BasalCalories)
	}
	return false // a number where the contract has a string, bool or list
}

// plainString returns the text of the JSON string raw when it needs no
// unescaping: it refers to raw, as go-json's DecodeNoCopyString does.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	ascii := true
	for _, ch := range inner {
		if ch < 0x20 || ch == '\\' || ch == '"' {
			return "", false
		}
		if ch >= unicode8.RuneSelf {
			ascii = false
		}
	}
	if !ascii && !unicode8.Valid(inner) {
		return "", false
	}
	if len(inner) == 0 {
		return "", true
	}
	return unsafe.String(&inner[0], len(inner)), true
}

// directString sets dst to the text of the JSON string raw when it needs no
// unescaping; plain tells that the scanner has checked so already.
func directString(raw []byte, plain bool, dst *string) bool {
	if plain {
		*dst = ""
		if len(raw) > 2 {
			*dst = unsafe.String(&raw[1], len(raw)-2)
		}
		return true
	}
	s, ok := plainString(raw)
	if ok {
		*dst = s
	}
	return ok
}

// number is a JSON number read in one pass: its digits as an integer
// (mant, exact when digits <= 19), and the power of ten they are multiplied by.
type number struct {
	mant    uint64
	digits  int // digits in mant, leading zeros included
	exp10   int
	neg     bool
	integer bool // no fraction, no exponent
}

// parseNumber reads raw as a number in JSON's grammar; ok is false for
// anything else.
func parseNumber(raw []byte) (n number, ok bool) {
	n, end, ok := scanNumber(raw)
	return n, ok && end == len(raw)
}

// scanNumber reads the number in JSON's grammar that raw starts with and
// returns it and where it ends; ok is false if raw does not start with one.
func scanNumber(raw []byte) (n number, end int, ok bool) {
	i, l := 0, len(raw)
	if i < l && raw[i] == '-' {
		n.neg = true
		i++
	}
	// The integer part: "0" or a digit 1-9 and more digits.
	d := i
	var mant uint64
	for ; i < l && raw[i]-'0' <= 9; i++ {
		mant = mant*10 + uint64(raw[i]-'0')
	}
	if i == d || raw[d] == '0' && i-d > 1 {
		return n, i, false
	}
	digits := i - d
	n.integer = true
	if i < l && raw[i] == '.' {
		n.integer = false
		i++
		d = i
		for ; i < l && raw[i]-'0' <= 9; i++ {
			mant = mant*10 + uint64(raw[i]-'0')
		}
		if i == d {
			return n, i, false
		}
		digits += i - d
		n.exp10 = -(i - d)
	}
	n.mant, n.digits = mant, digits
	if i < l && (raw[i] == 'e' || raw[i] == 'E') {
		n.integer = false
		i++
		neg := false
		if i < l && (raw[i] == '+' || raw[i] == '-') {
			neg = raw[i] == '-'
			i++
		}
		d, e := i, 0
		for ; i < l && raw[i]-'0' <= 9; i++ {
			if e < 10000 {
				e = e*10 + int(raw[i]-'0')
			}
		}
		if i == d {
			return n, i, false
		}
		if neg {
			e = -e
		}
		n.exp10 += e
	}
	return n, i, true
}

// intOf converts n, read from raw, to an integer. Up to 18 digits the
// digits are the value; longer ones go through strconv, which says whether
// they fit.
func intOf(n number, raw []byte, dst *int64) bool {
	if !n.integer {
		return false
	}
	if n.digits <= 18 {
		v := int64(n.mant)
		if n.neg {
			v = -v
		}
		*dst = v
		return true
	}
	v, err := strconv.ParseInt(unsafe.String(&raw[0], len(raw)), 10, 64)
	if err != nil {
		return false
	}
	*dst = v
	return true
}

// pow10 are the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// floatOf converts n, read from raw, to a float64. When its digits (at
// most 15, so below 2^53) and the power of ten are both exact float64s, one
// multiplication or division is the correctly rounded value (Clinger's fast
// path, which strconv takes too); anything else goes through
// strconv.ParseFloat. Measured: strconv was 0.14 CPU-s of the 1 M
// check-ins replay, mostly its general entry.
func floatOf(n number, raw []byte, dst *float64) bool {
	if n.digits <= 15 && n.exp10 >= -22 && n.exp10 <= 22 {
		f := float64(n.mant)
		if n.exp10 < 0 {
			f /= pow10[-n.exp10]
		} else {
			f *= pow10[n.exp10]
		}
		if n.neg {
			f = -f
		}
		*dst = f
		return true
	}
	v, err := strconv.ParseFloat(unsafe.String(&raw[0], len(raw)), 64)
	if err != nil {
		return false
	}
	*dst = v
	return true
}

// directStrings decodes a flat array of plain strings into dst, its elements
// taken from the page's string arena (one allocation per page, not per
// check-in).
func (p *page) directStrings(raw []byte, dst *[]string) bool {
	if len(raw) < 2 || raw[0] != '[' || raw[len(raw)-1] != ']' {
		return false
	}
	start := len(p.strs)
	i, n := 1, len(raw)-1
	for first := true; ; first = false {
		for i < n && isSpace(raw[i]) {
			i++
		}
		if i == n {
			break
		}
		if !first {
			if raw[i] != ',' {
				return false
			}
			i++
			for i < n && isSpace(raw[i]) {
				i++
			}
		}
		if i >= n || raw[i] != '"' {
			return false
		}
		j := skipString(raw[:n], i)
		if j < 0 {
			return false
		}
		s, ok := plainString(raw[i:j])
		if !ok {
			return false
		}
		p.strs = append(p.strs, s)
		i = j
	}
	*dst = p.strs[start:len(p.strs):len(p.strs)]
	if *dst == nil {
		*dst = []string{}
	}
	return true
}

// knownKeyFold reports whether key matches a known member's name ignoring
// case, as go-json matches struct fields.
func knownKeyFold(key []byte) bool {
	if len(key) == 0 {
		return false
	}
	for _, name := range knownKeys {
		if len(name) == len(key) && strings.EqualFold(name, unsafe.String(&key[0], len(key))) {
			return true
		}
	}
	return false
}

var knownKeys = [...]string{"remoteid", "id", "version", "type", "user_id", "client_id", "timestamp",
	"created", "modified", "start", "end", "timezone", "live", "privacy", "privacy_groups", "value",
	"steps", "distance", "activeDuration", "calories", "walkCalories", "basalCalories"}
