package azumiotest

import (
	"math"
	"sort"
	"strconv"
	"time"
)

// DefaultTypes are the six check-in types of the contract, in its order.
var DefaultTypes = []string{"steps", "workout_log", "heartrate", "sleeptime", "drink", "weight"}

// record is one check-in as the emulator stores it: its identity, version and the
// few values that change between versions. Every other field is a pure function of
// (seed, user, n, version), computed when the check-in is served, so that a user
// with a million check-ins costs tens of megabytes, not gigabytes.
type record struct {
	n        int64 // index within its user; the id is userPrefix + n in 8 digits
	version  int64
	modified int64 // UNIX ms
	stamp    int64 // UNIX ms of `timestamp`; created is derived from it
	typ      int16 // index into Server.types
	deleted  bool
}

// user is one emulated account with its check-ins sorted by (modified, n).
type user struct {
	index int
	id    string
	recs  []record
	next  int64 // n of the next new check-in
	tz    float64
	// changed holds the check-ins edited, deleted or added since the start.
	// Their modified is the clock's time of the change, later than that of every
	// initial check-in, so they sit after the unchanged ones, which stay in n
	// order: find searches each part by what orders it.
	changed map[int64]bool
	sub     *subscription
}

// idOf returns the check-in id of n for user index u: 12 digits, so that ids of
// one user compare as strings in the same order as numbers.
func idOf(u int, n int64) string {
	var b [24]byte
	return string(appendID(b[:0], u, n))
}

// appendID appends idOf(u, n).
func appendID(b []byte, u int, n int64) []byte {
	b = strconv.AppendInt(b, int64(1000+u), 10)
	var digits [8]byte
	for i := 7; i >= 0; i-- {
		digits[i] = byte('0' + n%10)
		n /= 10
	}
	if n > 0 { // more than 8 digits
		b = strconv.AppendInt(b, n, 10)
	}
	return append(b, digits[:]...)
}

// parseID is the inverse of idOf; ok is false for an id that is not one of ours.
func parseID(id string) (u int, n int64, ok bool) {
	if len(id) < 12 {
		return 0, 0, false
	}
	p, err1 := strconv.Atoi(id[:len(id)-8])
	n, err2 := strconv.ParseInt(id[len(id)-8:], 10, 64)
	if err1 != nil || err2 != nil || p < 1000 {
		return 0, 0, false
	}
	return p - 1000, n, true
}

// splitmix64 is the finaliser of SplitMix64: a fast, well-mixed hash of a counter.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Salts name the independent random streams of one check-in.
const (
	saltType = iota + 1
	saltJitter
	saltValue
	saltLen
	saltFrag
	saltPriv
	saltTZ
	saltProfile
	saltChange
	saltToken
)

// hash mixes the seed with up to four numbers into one 64-bit value.
func (s *Server) hash(salt uint64, a, b, c int64) uint64 {
	h := splitmix64(uint64(s.opts.Seed) ^ salt*0x632be59bd9b4e019)
	h = splitmix64(h ^ uint64(a))
	h = splitmix64(h ^ uint64(b))
	return splitmix64(h ^ uint64(c))
}

// unit returns a value in [0, 1) from a hash.
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// generate builds the initial check-ins of every user.
func (s *Server) generate() {
	n := int64(s.opts.Checkins)
	t0 := s.opts.Start.UnixMilli()
	// Spread the check-ins over up to a year before the start, at least 2 ms
	// apart so that a jitter of under half the spacing keeps them in order.
	spacing := int64(time.Hour / time.Millisecond)
	if n > 0 {
		spacing = max(2, min(spacing, int64(365*24*time.Hour/time.Millisecond)/n))
	}
	for ui := range s.opts.Users {
		u := &user{index: ui, id: strconv.Itoa(10001 + ui), next: n, changed: map[int64]bool{}}
		tzs := []float64{-8, -5, 0, 1, 5.5, 9}
		u.tz = tzs[s.hash(saltTZ, int64(ui), 0, 0)%uint64(len(tzs))]
		u.recs = make([]record, n)
		for i := range n {
			r := record{n: i, version: 1 + int64(s.hash(saltValue, int64(ui), i, -1)%4000)}
			r.typ = int16(s.hash(saltType, int64(ui), i, 0) % uint64(len(s.types)))
			r.modified = t0 - (n-i)*spacing + int64(s.hash(saltJitter, int64(ui), i, 0)%uint64(spacing/2))
			r.stamp = r.modified - 4*60_000 - int64(s.hash(saltJitter, int64(ui), i, 1)%60_000)
			u.recs[i] = r
		}
		// The first SameModified check-ins share one modified instant (the
		// last one's), as when a device uploads a backlog in one transaction.
		if k := min(int64(s.opts.SameModified), n); k > 1 {
			m := u.recs[k-1].modified
			for i := range k {
				u.recs[i].modified = m
			}
		}
		s.users = append(s.users, u)
		s.byID[u.id] = u
	}
}

// find returns the index in u.recs of check-in n, or -1.
func (u *user) find(n int64) int {
	head := len(u.recs) - len(u.changed)
	if u.changed[n] {
		for i := head; i < len(u.recs); i++ {
			if u.recs[i].n == n {
				return i
			}
		}
		return -1
	}
	i := sort.Search(head, func(i int) bool { return u.recs[i].n >= n })
	if i < head && u.recs[i].n == n {
		return i
	}
	return -1
}

// put stores r as the newest version of its check-in: it removes any older
// version and inserts r in (modified, n) order. Changes carry the current clock as
// modified, so they land at or near the end.
func (u *user) put(r record) {
	if i := u.find(r.n); i >= 0 {
		u.recs = append(u.recs[:i], u.recs[i+1:]...)
	}
	u.changed[r.n] = true
	i := sort.Search(len(u.recs), func(i int) bool {
		o := u.recs[i]
		return o.modified > r.modified || (o.modified == r.modified && o.n > r.n)
	})
	u.recs = append(u.recs, record{})
	copy(u.recs[i+1:], u.recs[i:])
	u.recs[i] = r
}

// since returns the index of the first check-in with modified >= ms.
func (u *user) since(ms int64) int {
	return sort.Search(len(u.recs), func(i int) bool { return u.recs[i].modified >= ms })
}

// checkinValues are the derived values of one check-in version.
type checkinValues struct {
	created, start, end int64
	value               float64
	steps               float64 // steps only
	live                bool
	privacy             int64
	groups              []string
	remoteHi, remoteLo  uint64 // the client UUID's bits
	fragName            string // "" when the check-in has no fragment
	fragID              int64
}

var privacyGroups = [][]string{{}, {"friends"}, {"friends", "family"}, {"coach"}}

// values derives the fields of r for user u.
func (s *Server) values(u *user, r *record) checkinValues {
	ui, n, ver := int64(u.index), r.n, r.version
	h := s.hash(saltValue, ui, n, ver)
	hl := s.hash(saltLen, ui, n, ver)
	v := checkinValues{created: r.stamp - int64(hl%5000), end: r.stamp}
	tzms := int64(u.tz * 3_600_000)
	switch s.types[r.typ] {
	case "steps":
		v.end = r.stamp - 1
		// From local midnight to the check-in's time, as in the contract's example.
		day := int64(24 * 3_600_000)
		v.start = floorDiv(v.end+tzms, day)*day - tzms
		v.steps = math.Round((500+unit(h)*15000)*1000) / 1000
		v.value = v.steps
		v.fragName = "steps_profile"
	case "workout_log":
		v.start = v.end - (20+int64(hl%70))*60_000
		v.value = float64(v.end-v.start) / 1000
		v.fragName = "path"
	case "sleeptime":
		v.start = v.end - (6*60+int64(hl%180))*60_000
		v.value = float64(v.end-v.start) / 1000
	case "heartrate":
		v.start = v.end
		v.value = float64(48 + h%70)
	case "drink":
		v.start = v.end
		v.value = []float64{0.2, 0.25, 0.33, 0.5}[h%4]
	case "weight":
		v.start = v.end
		v.value = math.Round((55+unit(h)*45)*10) / 10
	default:
		v.start = v.end - int64(hl%3_600_000)
		v.value = math.Round(unit(h)*1000) / 10
	}
	if s.opts.NoFragments {
		v.fragName = ""
	}
	if v.fragName != "" {
		v.fragID = 100000 + int64(s.hash(saltFrag, ui, n, ver)%900000)
	}
	hp := s.hash(saltPriv, ui, n, 0)
	v.live = hp&1 == 1
	v.privacy = int64(hp>>1) % 5
	v.groups = privacyGroups[(hp>>4)%uint64(len(privacyGroups))]
	v.remoteHi, v.remoteLo = s.hash(saltPriv, ui, n, 1), s.hash(saltPriv, ui, n, 2)
	return v
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

const hexDigits = "0123456789ABCDEF"

// appendUUID appends 128 bits as an upper-case UUID, like the client UUIDs
// (`remoteid`) of the contract's example.
func appendUUID(out []byte, hi, lo uint64) []byte {
	var b [36]byte
	j := 0
	for i := range 32 {
		if i == 8 || i == 12 || i == 16 || i == 20 {
			b[j] = '-'
			j++
		}
		w := hi
		if i >= 16 {
			w = lo
		}
		b[j] = hexDigits[(w>>(60-4*(i%16)))&0xF]
		j++
	}
	return append(out, b[:]...)
}
