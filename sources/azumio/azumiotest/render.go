package azumiotest

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// The emulator writes its JSON by hand rather than through a JSON library: a
// check-in has keys chosen at run time (`#steps_profile`, unknown fields), and the
// loopback benchmark needs pages of a thousand check-ins rendered in well under a
// millisecond, which appending into a reused buffer gives.

// appClientIDs are the apps that created check-ins, by type (the `client_id` field
// of a check-in names the app, not the API client reading it).
var appClientIDs = map[string]string{
	"steps":       "com.azumio.iphone.argus",
	"workout_log": "com.azumio.fitnessbuddy",
	"heartrate":   "com.azumio.instantheartrate",
	"sleeptime":   "com.azumio.sleeptime",
}

func appendKey(b []byte, key string) []byte {
	b = appendString(b, key)
	return append(b, ':')
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		b = utf8.AppendRune(b, r)
		i += size
	}
	return append(b, '"')
}

func appendFloat(b []byte, f float64) []byte {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.AppendInt(b, int64(f), 10)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// appendFixed appends v, a number with at most d decimals (the emulator rounds
// its values so), as the shortest decimal text that reads back as v: integer
// arithmetic instead of strconv's shortest-float search, which costs several
// times more.
func appendFixed(b []byte, v float64, d int) []byte {
	scale := pow10[d]
	x := math.Round(v * scale)
	if math.Abs(x) >= 1<<53 || x/scale != v {
		return appendFloat(b, v) // not exactly d decimals: the general way
	}
	n := int64(x)
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	whole, frac := n/int64(scale), n%int64(scale)
	b = strconv.AppendInt(b, whole, 10)
	if frac == 0 {
		return b
	}
	for frac%10 == 0 {
		frac /= 10
		d--
	}
	b = append(b, '.')
	var digits [20]byte
	for i := d - 1; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(b, digits[:d]...)
}

var pow10 = [...]float64{1, 10, 100, 1000, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// appendCheckin appends check-in r of user u as the API serves it. A deleted
// check-in is a tombstone: its identity, times and `"deleted": true`, nothing else.
func (s *Server) appendCheckin(b []byte, u *user, r *record, unknownFields bool) []byte {
	typ := s.types[r.typ]
	v := s.values(u, r)
	b = append(b, '{')
	if !r.deleted {
		b = append(b, `"remoteid":"`...)
		b = appendUUID(b, v.remoteHi, v.remoteLo)
		b = append(b, `",`...)
		if v.fragName != "" {
			b = appendKey(b, "#"+v.fragName)
			b = strconv.AppendInt(b, v.fragID, 10)
			b = append(b, ',')
		}
		if typ == "steps" {
			b = append(b, `"activeDuration":`...)
			b = strconv.AppendInt(b, int64(math.Round(v.steps*0.534)), 10)
			b = append(b, ',')
		}
		b = append(b, `"privacy_groups":[`...)
		for i, g := range v.groups {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, g)
		}
		b = append(b, "],"...)
	}
	b = append(b, `"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, r.version, 10)
	b = append(b, `,"id":"`...)
	b = appendID(b, u.index, r.n)
	b = append(b, `","timestamp":`...)
	b = strconv.AppendInt(b, r.stamp, 10)
	b = append(b, `,"created":`...)
	b = strconv.AppendInt(b, v.created, 10)
	b = append(b, `,"user_id":`...)
	b = appendString(b, u.id)
	b = append(b, `,"modified":`...)
	b = strconv.AppendInt(b, r.modified, 10)
	if r.deleted {
		b = append(b, `,"deleted":true}`...)
		return b
	}
	b = append(b, ',')
	if typ == "steps" {
		basal := math.Round(1506.652*float64(v.end-v.start)/86_400_000*1000) / 1000
		walk := math.Round(v.steps*0.03435*1000) / 1000
		b = append(b, `"distance":`...)
		b = appendFixed(b, math.Round(v.steps*0.7261*1000)/1000, 3)
		b = append(b, `,"calories":`...)
		b = appendFloat(b, basal+walk) // a sum: not exactly 3 decimals
		b = append(b, `,"walkCalories":`...)
		b = appendFixed(b, walk, 3)
		b = append(b, `,"basalCalories":`...)
		b = appendFixed(b, basal, 3)
		b = append(b, `,"steps":`...)
		b = appendFixed(b, v.steps, 3)
		b = append(b, ',')
	}
	b = append(b, `"timezone":`...)
	b = appendFixed(b, u.tz, 1)
	b = append(b, `,"value":`...)
	b = appendFixed(b, v.value, 3)
	b = append(b, `,"client_id":`...)
	app := appClientIDs[typ]
	if app == "" {
		app = "com.azumio.android.argus"
	}
	b = appendString(b, app)
	b = append(b, `,"end":`...)
	b = strconv.AppendInt(b, v.end, 10)
	b = append(b, `,"live":`...)
	b = strconv.AppendBool(b, v.live)
	b = append(b, `,"privacy":`...)
	b = strconv.AppendInt(b, v.privacy, 10)
	b = append(b, `,"start":`...)
	b = strconv.AppendInt(b, v.start, 10)
	if unknownFields {
		b = append(b, `,"heartbeatVariability":41.5,"device":{"model":"Pixel 9","os":"android 16","sensors":["accelerometer","ppg"]}`...)
	}
	return append(b, '}')
}

// appendFragment appends fragment name of check-in r, or reports false if r has
// no fragment of that name.
func (s *Server) appendFragment(b []byte, u *user, r *record, name string, unknownFields bool) ([]byte, bool) {
	v := s.values(u, r)
	if r.deleted || v.fragName == "" || v.fragName != name {
		return b, false
	}
	ui, n, ver := int64(u.index), r.n, r.version
	b = append(b, '{')
	if unknownFields {
		b = append(b, `"source":"accelerometer",`...)
	}
	switch name {
	case "steps_profile":
		const interval = 60
		count := min(int((v.end-v.start)/(interval*1000)), 1440)
		b = append(b, `"interval":60,"start":`...)
		b = strconv.AppendInt(b, v.start, 10)
		b = append(b, `,"values":[`...)
		for i := range count {
			if i > 0 {
				b = append(b, ',')
			}
			h := s.hash(saltFrag, ui, n, ver*10_000+int64(i))
			steps := int64(0)
			if h%3 != 0 { // a third of the minutes without steps
				steps = int64(h>>8) % 140
			}
			b = strconv.AppendInt(b, steps, 10)
		}
		b = append(b, ']')
	case "path":
		b = append(b, `"points":[`...)
		lat := 37.0 + float64(ui%50)/10
		lon := -122.0 + float64(ui%70)/10
		alt := 20.0
		i := 0
		for t := v.start; t <= v.end; t += 30_000 {
			h := s.hash(saltFrag, ui, n, ver*100_000+int64(i))
			lat += (unit(h) - 0.5) * 0.0008
			lon += (unit(h>>7) - 0.5) * 0.0008
			alt += (unit(h>>14) - 0.5) * 2
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"t":`...)
			b = strconv.AppendInt(b, t, 10)
			b = append(b, `,"lat":`...)
			b = strconv.AppendFloat(b, math.Round(lat*1e6)/1e6, 'f', -1, 64)
			b = append(b, `,"lon":`...)
			b = strconv.AppendFloat(b, math.Round(lon*1e6)/1e6, 'f', -1, 64)
			b = append(b, `,"alt":`...)
			b = strconv.AppendFloat(b, math.Round(alt*10)/10, 'f', -1, 64)
			b = append(b, '}')
			i++
		}
		b = append(b, ']')
	}
	return append(b, '}'), true
}

var (
	firstNames = []string{"John", "Maria", "Wei", "Aisha", "Lars", "Zoë"}
	lastNames  = []string{"Smith", "García", "Chen", "Okafor", "Nilsson", "O'Brien"}
)

// appendProfile appends user u's profile (GET /api2/users/me).
func (s *Server) appendProfile(b []byte, u *user, unknownFields bool) []byte {
	h := s.hash(saltProfile, int64(u.index), 0, 0)
	first := firstNames[h%uint64(len(firstNames))]
	last := lastNames[(h>>8)%uint64(len(lastNames))]
	gender := "female"
	if h>>16&1 == 1 {
		gender = "male"
	}
	b = append(b, `{"picture":`...)
	b = appendString(b, "https://azumio.example/pictures/"+u.id+".png")
	b = append(b, `,"id":`...)
	b = appendString(b, u.id)
	b = append(b, `,"birthday":"`...)
	b = strconv.AppendInt(b, 1950+int64(h>>20)%50, 10)
	b = append(b, '-')
	b = append2(b, 1+int(h>>28)%12)
	b = append(b, '-')
	b = append2(b, 1+int(h>>32)%28)
	b = append(b, `T00:00:42","first_name":`...)
	b = appendString(b, first)
	b = append(b, `,"name":`...)
	b = appendString(b, first+" "+last)
	b = append(b, `,"gender":`...)
	b = appendString(b, gender)
	if unknownFields {
		b = append(b, `,"locale":"en_US","units":{"distance":"km"}`...)
	}
	return append(b, '}')
}

func append2(b []byte, v int) []byte {
	return append(b, byte('0'+v/10), byte('0'+v%10))
}
