package azumio

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/goccy/go-json"
	"github.com/goccy/go-json/jsontext"
)

// checkinJSON holds the typed values of one check-in, as goccy/go-json decodes
// them. Which of them were present (and not null) the scanner says. Its strings
// refer to the page's body, which the next page overwrites.
type checkinJSON struct {
	RemoteID       string   `json:"remoteid"`
	ID             string   `json:"id"`
	Version        int64    `json:"version"`
	Type           string   `json:"type"`
	UserID         string   `json:"user_id"`
	ClientID       string   `json:"client_id"`
	Timestamp      int64    `json:"timestamp"`
	Created        int64    `json:"created"`
	Modified       int64    `json:"modified"`
	Start          int64    `json:"start"`
	End            int64    `json:"end"`
	Timezone       float64  `json:"timezone"`
	Live           bool     `json:"live"`
	Privacy        int64    `json:"privacy"`
	PrivacyGroups  []string `json:"privacy_groups"`
	Value          float64  `json:"value"`
	Steps          float64  `json:"steps"`
	Distance       float64  `json:"distance"`
	ActiveDuration float64  `json:"activeDuration"`
	Calories       float64  `json:"calories"`
	WalkCalories   float64  `json:"walkCalories"`
	BasalCalories  float64  `json:"basalCalories"`
}

type pageJSON struct {
	HasMore  bool          `json:"hasMore"`
	Checkins []checkinJSON `json:"checkins"`
}

// Bits of the known check-in members, in checkinJSON's order.
const (
	kRemoteID = iota
	kID
	kVersion
	kType
	kUserID
	kClientID
	kTimestamp
	kCreated
	kModified
	kStart
	kEnd
	kTimezone
	kLive
	kPrivacy
	kPrivacyGroups
	kValue
	kSteps // the steps measures, kSteps..kBasalCalories
	kDistance
	kActiveDuration
	kCalories
	kWalkCalories
	kBasalCalories
)

// checkinKey returns the bit of a known check-in member, or -1.
func checkinKey(k []byte) int {
	switch string(k) {
	case "remoteid":
		return kRemoteID
	case "id":
		return kID
	case "version":
		return kVersion
	case "type":
		return kType
	case "user_id":
		return kUserID
	case "client_id":
		return kClientID
	case "timestamp":
		return kTimestamp
	case "created":
		return kCreated
	case "modified":
		return kModified
	case "start":
		return kStart
	case "end":
		return kEnd
	case "timezone":
		return kTimezone
	case "live":
		return kLive
	case "privacy":
		return kPrivacy
	case "privacy_groups":
		return kPrivacyGroups
	case "value":
		return kValue
	case "steps":
		return kSteps
	case "distance":
		return kDistance
	case "activeDuration":
		return kActiveDuration
	case "calories":
		return kCalories
	case "walkCalories":
		return kWalkCalories
	case "basalCalories":
		return kBasalCalories
	}
	return -1
}

// Member kinds kept as raw JSON.
const (
	memberExtra    = iota // unknown: to _extra
	memberFragment        // "#name": the check-in has fragment name
)

// stepsBits are the bits of the steps measures: typed columns of steps
// check-ins, _extra members of any other type.
const stepsBits = 1<<kSteps | 1<<kDistance | 1<<kActiveDuration | 1<<kCalories | 1<<kWalkCalories | 1<<kBasalCalories

// member is one member kept raw: key (text, in the page's key arena) and value
// (raw JSON, in the page body).
type member struct {
	keyOff, keyLen int32
	val            []byte
	kind           uint8
}

// item is what the scanner learnt of one check-in.
type item struct {
	raw     []byte // the check-in's JSON
	present uint32 // bit per known member that is present and not null
	deleted bool
	members [2]int32 // range in page.members
	bad     error    // set when the check-in cannot be exported (dead letter)
}

// page is one decoded page of check-ins. Its slices are reused from page to page.
type page struct {
	deletedKey string
	body       []byte
	hasMore    bool
	typed      pageJSON
	items      []item
	members    []member
	keys       []byte // arena of member keys
	sc         scanner
	// direct tells that the scanner has converted every known member's value
	// into typed.Checkins (see direct.go), so go-json need not run.
	direct bool
	strs   []string   // arena of privacy_groups elements (direct.go)
	guess  []keyGuess // the members' keys in the check-in scanned last
}

func (p *page) key(m *member) []byte { return p.keys[m.keyOff : m.keyOff+m.keyLen] }

func (p *page) addMember(key, val []byte, kind uint8) {
	off := int32(len(p.keys))
	p.keys = append(p.keys, key...)
	p.members = append(p.members, member{keyOff: off, keyLen: int32(len(key)), val: val, kind: kind})
}

// decode decodes body, a whole answer of the check-in list. A body that is not
// JSON, or is cut, is an error (the caller retries the request); a check-in that
// cannot be decoded or lacks its identity gets item.bad and the others are kept.
func (p *page) decode(body []byte) error {
	p.body = body
	p.hasMore = false
	p.items = p.items[:0]
	p.members = p.members[:0]
	p.keys = p.keys[:0]
	p.strs = p.strs[:0]
	p.typed.Checkins = p.typed.Checkins[:0]
	p.direct = true
	sc := &p.sc
	*sc = scanner{b: body}
	sawList := false
	err := sc.object(func(key []byte) error {
		switch string(key) {
		case "hasMore":
			v, err := sc.value()
			p.hasMore = string(v) == "true"
			return err
		case "checkins":
			sawList = true
			if sc.peek() == 'n' { // null: no check-ins
				_, err := sc.value()
				return err
			}
			return sc.array(p.scanCheckin)
		}
		_, err := sc.value()
		return err
	})
	if err == nil {
		err = sc.end()
	}
	if err != nil {
		return err
	}
	if !sawList {
		return errors.New(`answer has no "checkins" member`)
	}

	// Values: converted by the scanner already (direct.go); else go-json, the
	// whole page in one call, and if a check-in does not fit the types, one
	// call per check-in, so that only the bad ones are dead letters.
	if p.direct && len(p.typed.Checkins) == len(p.items) {
		p.checkIdentity()
		return nil
	}
	cs := p.typed.Checkins[:cap(p.typed.Checkins)]
	clear(cs)
	p.typed.Checkins = cs[:0]
	// Strings refer to body (no copy per string): whoever keeps one past the
	// page clones it.
	if err := json.UnmarshalWithOption(body, &p.typed, json.DecodeNoCopyString()); err != nil || len(p.typed.Checkins) != len(p.items) {
		if cap(p.typed.Checkins) < len(p.items) {
			p.typed.Checkins = make([]checkinJSON, len(p.items))
		}
		p.typed.Checkins = p.typed.Checkins[:len(p.items)]
		for i := range p.items {
			c := &p.typed.Checkins[i]
			*c = checkinJSON{}
			if err := json.UnmarshalWithOption(p.items[i].raw, c, json.DecodeNoCopyString()); err != nil {
				p.items[i].bad = err
			}
		}
	}
	p.checkIdentity()
	return nil
}

// checkIdentity marks the check-ins without their identity bad.
func (p *page) checkIdentity() {
	for i := range p.items {
		it := &p.items[i]
		if it.bad != nil {
			continue
		}
		const need = 1<<kID | 1<<kVersion | 1<<kModified | 1<<kType
		if it.present&need != need || p.typed.Checkins[i].ID == "" || p.typed.Checkins[i].Type == "" {
			it.bad = errors.New("check-in without id, version, modified or type")
		}
	}
}

// scanCheckin scans one element of the check-in list.
func (p *page) scanCheckin() error {
	sc := &p.sc
	sc.ws()
	start := sc.i
	p.items = append(p.items, item{members: [2]int32{int32(len(p.members)), 0}})
	it := &p.items[len(p.items)-1]
	p.typed.Checkins = append(p.typed.Checkins, checkinJSON{})
	if sc.peek() != '{' {
		p.direct = false // go-json's error is the dead letter's reason
		v, err := sc.value()
		if err != nil {
			return err
		}
		it.raw = v
		it.bad = fmt.Errorf("check-in is not a JSON object: %.40s", v)
		it.members[1] = int32(len(p.members))
		return nil
	}
	if !p.scanCheckinFast(it) {
		// Escaped keys, nested values or bad JSON: the general scanner
		// takes over from the start of the check-in.
		sc.i = start
		it.present, it.deleted = 0, false
		p.typed.Checkins[len(p.typed.Checkins)-1] = checkinJSON{}
		p.members = p.members[:it.members[0]]
		if err := sc.object(func(key []byte) error {
			val, err := sc.value()
			if err == nil {
				p.member(it, key, val)
			}
			return err
		}); err != nil {
			return err
		}
	}
	it.raw = sc.b[start:sc.i]
	it.members[1] = int32(len(p.members))
	return nil
}

// member records one member of check-in it.
func (p *page) member(it *item, key, val []byte) {
	if k := checkinKey(key); k >= 0 {
		p.known(it, k, val, false)
		return
	}
	if p.direct && knownKeyFold(key) {
		p.direct = false // go-json matches keys ignoring case
	}
	if len(key) > 1 && key[0] == '#' {
		p.addMember(key[1:], val, memberFragment)
		return
	}
	if string(key) == p.deletedKey {
		switch string(val) {
		case "true":
			it.deleted = true
			return
		case "false", "null":
			return
		}
	}
	p.addMember(key, val, memberExtra)
}

// known records member k (a known one) of check-in it.
// plain tells that val is a string in printable ASCII without escapes.
func (p *page) known(it *item, k int, val []byte, plain bool) {
	if !isNull(val) {
		it.present |= 1 << k
		if p.direct && !p.directValue(&p.typed.Checkins[len(p.typed.Checkins)-1], k, val, plain) {
			p.direct = false
		}
	} else if it.present&(1<<k) != 0 {
		p.direct = false // null after a value: go-json decides
	}
}

// knownNumber records known member k of the check-in being scanned, the
// number n read from val, as known does val.
func (p *page) knownNumber(it *item, k int, n number, val []byte) {
	it.present |= 1 << k
	if p.direct && !directNumber(&p.typed.Checkins[len(p.typed.Checkins)-1], k, n, val) {
		p.direct = false
	}
}

// keyGuess is the key of the member at some position in the check-in
// scanned last: its text in quotes, and its known member (-1: none).
// Check-ins rendered by one serializer have their members in one order, so
// scanCheckinFast first checks whether a member has the key its position
// had, one comparison instead of a scan of the key and a lookup: measured on
// the benchmarks' page, 8% of the scanner's CPU.
type keyGuess struct {
	quoted string
	k      int
}

// learn records key as the key of member m.
func (p *page) learn(m int, key []byte) {
	if m < len(p.guess) {
		if g := p.guess[m].quoted; len(g) == len(key)+2 && g[1:len(g)-1] == string(key) {
			return
		}
	}
	g := keyGuess{quoted: `"` + string(key) + `"`, k: checkinKey(key)}
	if m < len(p.guess) {
		p.guess[m] = g
	} else if m == len(p.guess) {
		p.guess = append(p.guess, g)
	}
}

// scanCheckinFast scans a check-in object whose keys have no escapes and whose
// values are strings, numbers, literals or flat arrays of strings, the shape of
// nearly every check-in, in one tight loop; it reports false (having recorded
// nothing that matters) for anything else, and the caller scans it again with
// the general scanner. It is the scanner's hot path: a page of a thousand
// check-ins goes through it once.
func (p *page) scanCheckinFast(it *item) bool {
	b := p.sc.b
	n := len(b)
	i := p.sc.i + 1 // past '{'
	for m := 0; ; m++ {
		for i < n && isSpace(b[i]) {
			i++
		}
		if i >= n {
			return false
		}
		if b[i] == '}' && m == 0 {
			p.sc.i = i + 1
			return true
		}
		if b[i] != '"' {
			return false
		}
		var key []byte
		k := -1
		if m < len(p.guess) {
			if g := p.guess[m]; g.k >= 0 && len(b)-i >= len(g.quoted) && string(b[i:i+len(g.quoted)]) == g.quoted {
				key, k = b[i+1:i+len(g.quoted)-1], g.k
				i += len(g.quoted)
			}
		}
		if key == nil {
			ks := i + 1
			i = ks
			for i < n && !keyStop[b[i]] {
				i++
			}
			if i < n && b[i] == '\\' {
				return false
			}
			if i >= n {
				return false
			}
			key = b[ks:i]
			i++
			p.learn(m, key)
		}
		for i < n && isSpace(b[i]) {
			i++
		}
		if i >= n || b[i] != ':' {
			return false
		}
		i++
		for i < n && isSpace(b[i]) {
			i++
		}
		if i >= n {
			return false
		}
		vs := i
		plain, done := false, false
		switch c := b[i]; {
		case c == '"':
			// Printable ASCII up to the closing quote, the usual string,
			// needs no second look (direct.go's plainString).
			j := i + 1
			for j < n && plainByte[b[j]] {
				j++
			}
			if j < n && b[j] == '"' {
				i, plain = j+1, true
			} else {
				i = skipString(b, i)
			}
		case c == '[':
			// A flat array of strings (privacy_groups).
			i++
			for {
				for i < n && isSpace(b[i]) {
					i++
				}
				if i >= n {
					return false
				}
				if b[i] == ']' {
					i++
					break
				}
				if b[i] == ',' {
					i++
					continue
				}
				if b[i] != '"' {
					return false
				}
				if i = skipString(b, i); i < 0 {
					return false
				}
			}
		case c == '{':
			return false
		case k >= 0 && (c == '-' || c-'0' <= 9):
			// A known member's number is converted as it is read: one
			// pass over its digits instead of two (measured: 3% less
			// CPU in BenchmarkDecodePage, 0.55 -> 0.535 µs a check-in).
			// A number followed by anything but the end of a value goes
			// the general way.
			if num, l, ok := scanNumber(b[i:]); ok && i+l < n && valueStop[b[i+l]] {
				i += l
				p.knownNumber(it, k, num, b[vs:i])
				done = true
				break
			}
			fallthrough
		default:
			for i < n && !valueStop[b[i]] {
				i++
			}
		}
		if !done {
			if i < 0 || i >= n || i == vs {
				return false
			}
			if k >= 0 {
				p.known(it, k, b[vs:i], plain)
			} else {
				p.member(it, key, b[vs:i])
			}
		}
		for i < n && isSpace(b[i]) {
			i++
		}
		if i >= n {
			return false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			p.sc.i = i + 1
			return true
		default:
			return false
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// keyStop marks the bytes that end a key's text (or make it slow: an escape);
// valueStop those that end a number or literal; plainByte the bytes a string
// holds as they are (printable ASCII but '"' and '\\').
var keyStop, valueStop, plainByte [256]bool

func init() {
	for c := 0x20; c < 0x80; c++ {
		plainByte[c] = c != '"' && c != '\\'
	}
	keyStop['"'], keyStop['\\'] = true, true
	for _, c := range []byte(",}] \n\t\r") {
		valueStop[c] = true
	}
}

// skipString returns the index after the string starting at b[i] == '"', or -1
// if it does not end.
func skipString(b []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		bs := 0
		for q := j - 1; q > i && b[q] == '\\'; q-- {
			bs++
		}
		if bs%2 == 0 {
			return j + 1
		}
		j++
	}
}

// fragmentRef is a fragment a check-in names: "#steps_profile": 123456.
type fragmentRef struct {
	Name string
	ID   string // the member's value: a string's text, else its JSON
}

// fragments returns the fragments check-in i names.
func (p *page) fragments(i int) []fragmentRef {
	it := &p.items[i]
	var out []fragmentRef
	for m := it.members[0]; m < it.members[1]; m++ {
		mb := &p.members[m]
		if mb.kind == memberFragment {
			out = append(out, fragmentRef{Name: string(p.key(mb)), ID: jsonText(mb.val)})
		}
	}
	return out
}

// jsonText returns a JSON string's text, or any other value's JSON as it is.
func jsonText(raw []byte) string {
	if len(raw) >= 2 && raw[0] == '"' {
		if s, ok := unquote(raw); ok {
			return s
		}
	}
	return string(raw)
}

// unquote returns the text of a JSON string.
func unquote(raw []byte) (string, bool) {
	inner := raw[1 : len(raw)-1]
	simple := true
	for _, c := range inner {
		if c == '\\' {
			simple = false
			break
		}
	}
	if simple {
		return string(inner), true
	}
	out, err := jsontext.AppendUnquote(nil, raw)
	if err != nil {
		return "", false
	}
	return string(out), true
}

// appendExtra appends the JSON object {"key": value, ...} of the members of
// check-in i that no column of its stream holds; it reports false (appending
// nothing) when there are none. typed says whether the stream has the steps
// measures as columns.
func (p *page) appendExtra(b []byte, i int, typed bool) ([]byte, bool) {
	it := &p.items[i]
	n := 0
	add := func(key, val []byte) {
		if n == 0 {
			b = append(b, '{')
		} else {
			b = append(b, ',')
		}
		b, _ = jsontext.AppendQuote(b, key)
		b = append(b, ':')
		b = append(b, val...)
		n++
	}
	for m := it.members[0]; m < it.members[1]; m++ {
		if mb := &p.members[m]; mb.kind == memberExtra {
			add(p.key(mb), mb.val)
		}
	}
	if !typed && it.present&stepsBits != 0 {
		// Steps measures on a check-in of another type: rare, so found by
		// scanning the check-in again rather than kept for every check-in.
		s := scanner{b: it.raw}
		s.object(func(key []byte) error {
			val, err := s.value()
			if k := checkinKey(key); err == nil && k >= kSteps && !isNull(val) {
				add(key, val)
			}
			return err
		})
	}
	if n == 0 {
		return b, false
	}
	return append(b, '}'), true
}

// checkinStream builds the records of one stream azumio.checkins.<type>.
type checkinStream struct {
	stream string
	typed  bool // the type has columns of its own (steps)
	rb     *array.RecordBuilder

	userID, id, typ, remote, client, extra *array.StringBuilder
	version, privacy                       *array.Int64Builder
	deleted, live                          *array.BooleanBuilder
	modified, created, stamp, start, end   *array.TimestampBuilder
	tz, value                              *array.Float64Builder
	groups                                 *array.ListBuilder
	group                                  *array.StringBuilder
	measures                               [6]*array.Float64Builder
	frags                                  *array.ListBuilder
	frag                                   *array.StructBuilder
	fragName, fragID                       *array.StringBuilder
	scratch                                []byte
}

func newCheckinStream(mem memory.Allocator, typ string) *checkinStream {
	schema := checkinSchema(typ)
	rb := array.NewRecordBuilder(mem, schema)
	cs := &checkinStream{stream: streamCheckins + typ, typed: typedFields(typ) != nil, rb: rb}
	f := func(i int) array.Builder { return rb.Field(i) }
	cs.userID = f(0).(*array.StringBuilder)
	cs.id = f(1).(*array.StringBuilder)
	cs.version = f(2).(*array.Int64Builder)
	cs.typ = f(3).(*array.StringBuilder)
	cs.deleted = f(4).(*array.BooleanBuilder)
	cs.modified = f(5).(*array.TimestampBuilder)
	cs.created = f(6).(*array.TimestampBuilder)
	cs.stamp = f(7).(*array.TimestampBuilder)
	cs.start = f(8).(*array.TimestampBuilder)
	cs.end = f(9).(*array.TimestampBuilder)
	cs.tz = f(10).(*array.Float64Builder)
	cs.remote = f(11).(*array.StringBuilder)
	cs.client = f(12).(*array.StringBuilder)
	cs.live = f(13).(*array.BooleanBuilder)
	cs.privacy = f(14).(*array.Int64Builder)
	cs.groups = f(15).(*array.ListBuilder)
	cs.group = cs.groups.ValueBuilder().(*array.StringBuilder)
	cs.value = f(16).(*array.Float64Builder)
	next := 17
	if cs.typed {
		for i := range cs.measures {
			cs.measures[i] = f(next + i).(*array.Float64Builder)
		}
		next += len(cs.measures)
	}
	cs.frags = f(next).(*array.ListBuilder)
	cs.frag = cs.frags.ValueBuilder().(*array.StructBuilder)
	cs.fragName = cs.frag.FieldBuilder(0).(*array.StringBuilder)
	cs.fragID = cs.frag.FieldBuilder(1).(*array.StringBuilder)
	cs.extra = f(next + 1).(*array.StringBuilder)
	return cs
}

func appendTS(b *array.TimestampBuilder, present bool, ms int64) {
	if present {
		b.Append(arrow.Timestamp(ms))
	} else {
		b.AppendNull()
	}
}

func appendF64(b *array.Float64Builder, present bool, v float64) {
	if present {
		b.Append(v)
	} else {
		b.AppendNull()
	}
}

func appendStr(b *array.StringBuilder, present bool, v string) {
	if present {
		b.Append(v)
	} else {
		b.AppendNull()
	}
}

// appendRows adds the check-ins idx of p (none of them bad) for user.
//
// It reserves room for them first, the string columns' bytes included, so
// that no builder grows while they are appended, and appends the
// fixed-width columns without a capacity check per value. Measured on the
// benchmarks' page (BenchmarkAppendPage), the builders' growth was a
// third of the appending (memmove, memclr, and checks per value). Going
// column by column instead (one AppendValues per column) was slower: 20%
// more CPU, gathering each column's values first.
func (cs *checkinStream) appendRows(p *page, idx []int, user string) {
	cs.rb.Reserve(len(idx))
	var ids, types, remotes, clients, groups, ngroups int
	for _, i := range idx {
		c := &p.typed.Checkins[i]
		ids += len(c.ID)
		types += len(c.Type)
		remotes += len(c.RemoteID)
		clients += len(c.ClientID)
		ngroups += len(c.PrivacyGroups)
		for _, g := range c.PrivacyGroups {
			groups += len(g)
		}
	}
	cs.userID.ReserveData(len(idx) * len(user))
	cs.id.ReserveData(ids)
	cs.typ.ReserveData(types)
	cs.remote.ReserveData(remotes)
	cs.client.ReserveData(clients)
	cs.group.Reserve(ngroups)
	cs.group.ReserveData(groups)
	for _, i := range idx {
		cs.append(p, i, user)
	}
}

// putTS and putF64 append a value or a null to a builder that has room for
// it (see appendRows).
func putTS(b *array.TimestampBuilder, present bool, ms int64) {
	if present {
		b.UnsafeAppend(arrow.Timestamp(ms))
	} else {
		b.UnsafeAppendBoolToBitmap(false)
	}
}

func putF64(b *array.Float64Builder, present bool, v float64) {
	if present {
		b.UnsafeAppend(v)
	} else {
		b.UnsafeAppendBoolToBitmap(false)
	}
}

// append adds check-in i of p (which must not be bad) for user, to builders
// that have room for it (see appendRows).
func (cs *checkinStream) append(p *page, i int, user string) {
	c := &p.typed.Checkins[i]
	it := &p.items[i]
	has := func(k int) bool { return it.present&(1<<k) != 0 }
	if has(kUserID) {
		cs.userID.Append(c.UserID)
	} else {
		cs.userID.Append(user)
	}
	cs.id.Append(c.ID)
	cs.version.UnsafeAppend(c.Version)
	cs.typ.Append(c.Type)
	cs.deleted.UnsafeAppend(it.deleted)
	cs.modified.UnsafeAppend(arrow.Timestamp(c.Modified))
	putTS(cs.created, has(kCreated), c.Created)
	putTS(cs.stamp, has(kTimestamp), c.Timestamp)
	putTS(cs.start, has(kStart), c.Start)
	putTS(cs.end, has(kEnd), c.End)
	putF64(cs.tz, has(kTimezone), c.Timezone)
	appendStr(cs.remote, has(kRemoteID), c.RemoteID)
	appendStr(cs.client, has(kClientID), c.ClientID)
	if has(kLive) {
		cs.live.UnsafeAppend(c.Live)
	} else {
		cs.live.UnsafeAppendBoolToBitmap(false)
	}
	if has(kPrivacy) {
		cs.privacy.UnsafeAppend(c.Privacy)
	} else {
		cs.privacy.UnsafeAppendBoolToBitmap(false)
	}
	if has(kPrivacyGroups) {
		cs.groups.Append(true)
		for _, g := range c.PrivacyGroups {
			cs.group.Append(g)
		}
	} else {
		cs.groups.AppendNull()
	}
	putF64(cs.value, has(kValue), c.Value)
	if cs.typed {
		putF64(cs.measures[0], has(kSteps), c.Steps)
		putF64(cs.measures[1], has(kDistance), c.Distance)
		putF64(cs.measures[2], has(kActiveDuration), c.ActiveDuration)
		putF64(cs.measures[3], has(kCalories), c.Calories)
		putF64(cs.measures[4], has(kWalkCalories), c.WalkCalories)
		putF64(cs.measures[5], has(kBasalCalories), c.BasalCalories)
	}
	nfrag := 0
	for m := it.members[0]; m < it.members[1]; m++ {
		mb := &p.members[m]
		if mb.kind != memberFragment {
			continue
		}
		if nfrag == 0 {
			cs.frags.Append(true)
		}
		nfrag++
		cs.frag.Append(true)
		cs.fragName.BinaryBuilder.Append(p.key(mb))
		cs.fragID.Append(jsonText(mb.val))
	}
	if nfrag == 0 {
		cs.frags.AppendNull()
	}
	var ok bool
	cs.scratch, ok = p.appendExtra(cs.scratch[:0], i, cs.typed)
	if ok {
		cs.extra.BinaryBuilder.Append(cs.scratch)
	} else {
		cs.extra.AppendNull()
	}
}

// rows returns the number of rows appended since the last record.
func (cs *checkinStream) rows() int { return cs.userID.Len() }

// record returns the rows appended so far as a record and starts anew.
func (cs *checkinStream) record() arrow.RecordBatch { return cs.rb.NewRecordBatch() }

func (cs *checkinStream) release() { cs.rb.Release() }

// parseInt parses raw JSON as an integer number of milliseconds or the like,
// accepting a float with no fraction (1391648696402.0).
func parseInt(raw []byte) (int64, error) {
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f != float64(int64(f)) {
		return 0, fmt.Errorf("want an integer, got %s", raw)
	}
	return int64(f), nil
}

// identity returns the id, version and modified of check-in i: from the typed
// values for a good check-in, else read loosely from its JSON (a check-in whose
// other members do not decode still moves the cursor and is deduplicated). ok is
// false when they cannot be found.
func (p *page) identity(i int) (id string, version, modified int64, ok bool) {
	it := &p.items[i]
	if it.bad == nil {
		c := &p.typed.Checkins[i]
		return c.ID, c.Version, c.Modified, true
	}
	s := scanner{b: it.raw}
	var have int
	err := s.object(func(key []byte) error {
		v, err := s.value()
		if err != nil {
			return err
		}
		var perr error
		switch string(key) {
		case "id":
			id = jsonText(v)
			have |= 1
		case "version":
			version, perr = parseInt(v)
			if perr == nil {
				have |= 2
			}
		case "modified":
			modified, perr = parseInt(v)
			if perr == nil {
				have |= 4
			}
		}
		return nil
	})
	return id, version, modified, err == nil && have == 7 && id != ""
}
