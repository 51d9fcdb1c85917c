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

// directValue converts val, the raw JSON of known member k (not null), into c.
// It reports false when go-json must decide.
func (p *page) directValue(c *checkinJSON, k int, val []byte) bool {
	switch k {
	case kRemoteID:
		return directString(val, &c.RemoteID)
	case kID:
		return directString(val, &c.ID)
	case kType:
		return directString(val, &c.Type)
	case kUserID:
		return directString(val, &c.UserID)
	case kClientID:
		return directString(val, &c.ClientID)
	case kVersion:
		return directInt(val, &c.Version)
	case kTimestamp:
		return directInt(val, &c.Timestamp)
	case kCreated:
		return directInt(val, &c.Created)
	case kModified:
		return directInt(val, &c.Modified)
	case kStart:
		return directInt(val, &c.Start)
	case kEnd:
		return directInt(val, &c.End)
	case kPrivacy:
		return directInt(val, &c.Privacy)
	case kTimezone:
		return directFloat(val, &c.Timezone)
	case kValue:
		return directFloat(val, &c.Value)
	case kSteps:
		return directFloat(val, &c.Steps)
	case kDistance:
		return directFloat(val, &c.Distance)
	case kActiveDuration:
		return directFloat(val, &c.ActiveDuration)
	case kCalories:
		return directFloat(val, &c.Calories)
	case kWalkCalories:
		return directFloat(val, &c.WalkCalories)
	case kBasalCalories:
		return directFloat(val, &c.BasalCalories)
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
	return false
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

func directString(raw []byte, dst *string) bool {
	s, ok := plainString(raw)
	if ok {
		*dst = s
	}
	return ok
}

// jsonNumber reports whether raw is a number in JSON's grammar, and whether it
// is an integer (no fraction, no exponent).
func jsonNumber(raw []byte) (ok, integer bool) {
	i, n := 0, len(raw)
	if i < n && raw[i] == '-' {
		i++
	}
	switch {
	case i < n && raw[i] == '0':
		i++
	case i < n && raw[i] >= '1' && raw[i] <= '9':
		for i < n && raw[i] >= '0' && raw[i] <= '9' {
			i++
		}
	default:
		return false, false
	}
	integer = true
	if i < n && raw[i] == '.' {
		integer = false
		i++
		d := i
		for i < n && raw[i] >= '0' && raw[i] <= '9' {
			i++
		}
		if i == d {
			return false, false
		}
	}
	if i < n && (raw[i] == 'e' || raw[i] == 'E') {
		integer = false
		i++
		if i < n && (raw[i] == '+' || raw[i] == '-') {
			i++
		}
		d := i
		for i < n && raw[i] >= '0' && raw[i] <= '9' {
			i++
		}
		if i == d {
			return false, false
		}
	}
	return i == n, integer
}

func directInt(raw []byte, dst *int64) bool {
	if ok, integer := jsonNumber(raw); !ok || !integer {
		return false
	}
	v, err := strconv.ParseInt(unsafe.String(&raw[0], len(raw)), 10, 64)
	if err != nil {
		return false
	}
	*dst = v
	return true
}

func directFloat(raw []byte, dst *float64) bool {
	if ok, _ := jsonNumber(raw); !ok {
		return false
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
