package azumio

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/goccy/go-json"

	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

// TestDirectDecodeMatchesGoJSON decodes pages with the scanner's direct
// conversion and checks, check-in by check-in, that go-json decodes the same
// values, and that the pages direct.go must not decide fall back to go-json.
func TestDirectDecodeMatchesGoJSON(t *testing.T) {
	const base = `"id": "1", "version": 2, "type": "steps", "modified": 1000`
	tests := []struct {
		name       string
		checkin    string // members after base
		wantDirect bool
	}{
		{"plain", `"user_id": "u", "client_id": "c", "remoteid": "r", "timestamp": 5, "created": -6, "start": 0, "end": 9007199254740993`, true},
		{"floats", `"timezone": -3.5, "value": 1e3, "steps": 12, "distance": 0.1, "activeDuration": 1.5E-2, "calories": -0, "walkCalories": 2.25, "basalCalories": 1e-320`, true},
		{"literals", `"live": true, "privacy": 3, "steps": null, "extra": {"a": [1]}`, true},
		{"groups", `"privacy_groups": [ "a" , "b","" ]`, true},
		{"empty groups", `"privacy_groups": []`, true},
		{"utf-8", `"remoteid": "Zoë 日本"`, true},
		{"duplicate", `"version": 3, "version": 4`, true},
		{"escaped string", `"remoteid": "a\"b\u00e9"`, false},
		{"invalid utf-8", "\"remoteid\": \"a\xffb\"", false},
		{"float version", `"version": 2.0`, false},
		{"string version", `"version": "2"`, false},
		{"huge int", `"created": 99999999999999999999`, false},
		{"float overflow", `"steps": 1e400`, false},
		{"number for string", `"user_id": 42`, false},
		{"string for bool", `"live": "yes"`, false},
		{"number in groups", `"privacy_groups": ["a", 1]`, false},
		{"object for float", `"value": {"v": 1}`, false},
		{"case-folded key", `"Steps": 5`, false},
		{"null after value", `"steps": 5, "steps": null`, false},
		{"groups null after value", `"privacy_groups": ["a"], "privacy_groups": null`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := fmt.Sprintf(`{"hasMore": true, "checkins": [{%s, %s}, {"id": "x", "version": 1, "type": "t", "modified": 1}]}`, base, tt.checkin)
			var p page
			// Twice on one page: the second decode must not see the first.
			for range 2 {
				if err := p.decode([]byte(body)); err != nil {
					t.Fatal(err)
				}
			}
			if got, want := p.direct, tt.wantDirect; got != want {
				t.Errorf("got direct %v, want %v", got, want)
			}
			var want pageJSON
			if err := json.Unmarshal([]byte(body), &want); err != nil {
				for i := range p.items {
					if p.items[i].bad == nil {
						var c checkinJSON
						if json.Unmarshal(p.items[i].raw, &c) != nil {
							t.Errorf("check-in %d: got good, want bad", i)
						}
					}
				}
				return
			}
			if got, want := len(p.typed.Checkins), len(want.Checkins); got != want {
				t.Fatalf("got %d check-ins, want %d", got, want)
			}
			for i := range want.Checkins {
				if got, want := p.typed.Checkins[i], want.Checkins[i]; !reflect.DeepEqual(got, want) {
					t.Errorf("check-in %d: got %+v, want %+v", i, got, want)
				}
			}
		})
	}
}

// TestDirectDecodeNotAnObject checks that a page with a check-in that is not
// an object leaves its reason to go-json, as before direct decoding.
func TestDirectDecodeNotAnObject(t *testing.T) {
	var p page
	if err := p.decode([]byte(`{"checkins": [{"id": "1", "version": 1, "type": "t", "modified": 1}, "x"]}`)); err != nil {
		t.Fatal(err)
	}
	if p.direct {
		t.Errorf("got direct, want go-json")
	}
	if got := len(p.items); got != 2 {
		t.Fatalf("got %d items, want 2", got)
	}
	if p.items[0].bad != nil || p.items[1].bad == nil {
		t.Errorf("got bad %v, %v, want nil, an error", p.items[0].bad, p.items[1].bad)
	}
}

// TestDirectNumbersMatchStrconv checks the number fast paths against strconv
// (which go-json agrees with, see above) on edge cases and on random numbers of
// every shape.
func TestDirectNumbersMatchStrconv(t *testing.T) {
	cases := []string{"0", "-0", "1", "-1", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
		"123456789012345678", "999999999999999999", "0.1", "0.3", "-2.5e-3", "1e22", "1e23", "9007199254740993",
		"123456789012345.6", "1.7976931348623157e308", "5e-324", "1E+2", "0.000001", "4.35", "1391648696402",
		"01", "1.", ".5", "-", "1e", "+1", "1e+", "0x10", "Inf", "NaN", "1_0", ""}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		mant := rnd.Int64N(1 << rnd.IntN(63))
		var s string
		switch rnd.IntN(4) {
		case 0:
			s = strconv.FormatInt(mant-rnd.Int64N(1<<20), 10)
		case 1:
			s = strconv.FormatFloat(float64(mant)/pow10[rnd.IntN(len(pow10))], 'f', -1, 64)
		case 2:
			s = strconv.FormatFloat(rnd.NormFloat64()*pow10[rnd.IntN(len(pow10))], 'g', rnd.IntN(17)+1, 64)
		default:
			s = fmt.Sprintf("%d.%de%d", rnd.IntN(1000), rnd.IntN(100000), rnd.IntN(60)-30)
		}
		cases = append(cases, s)
	}
	for _, s := range cases {
		raw := []byte(s)
		parsed, grammar := parseNumber(raw)
		// The scanner's form: the number followed by what ends it.
		pre, end, ok := scanNumber(append(raw[:len(raw):len(raw)], ','))
		if grammar && (!ok || end != len(raw) || pre != parsed) || !grammar && ok && end == len(raw) {
			t.Errorf("scanNumber(%q,): got %+v, end %d, %v; parseNumber got %+v, %v", s, pre, end, ok, parsed, grammar)
		}
		var gotF float64
		gotOK := len(raw) > 0 && grammar && floatOf(parsed, raw, &gotF)
		wantF, err := strconv.ParseFloat(s, 64)
		wantOK := err == nil && grammar
		if gotOK != wantOK || (wantOK && math.Float64bits(gotF) != math.Float64bits(wantF)) {
			t.Errorf("float %q: got %v %v, want %v %v", s, gotF, gotOK, wantF, wantOK)
		}
		var gotI int64
		gotOK = len(raw) > 0 && grammar && intOf(parsed, raw, &gotI)
		wantI, err := strconv.ParseInt(s, 10, 64)
		wantOK = err == nil && grammar
		if gotOK != wantOK || gotI != wantI && wantOK {
			t.Errorf("int %q: got %v %v, want %v %v", s, gotI, gotOK, wantI, wantOK)
		}
	}
}

// BenchmarkDecodePage measures decoding one page of 1,000 steps check-ins as
// the emulator renders them (the benchmarks' page), per check-in.
func BenchmarkDecodePage(b *testing.B) {
	body := benchPage(b)
	var p page
	for b.Loop() {
		if err := p.decode(body); err != nil || !p.direct || len(p.items) != 1000 {
			b.Fatal(err, p.direct, len(p.items))
		}
	}
	b.SetBytes(int64(len(body)))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/checkin")
}

// BenchmarkAppendPage measures appending the benchmarks' decoded page to the
// Arrow builders of its stream and taking the record, per check-in.
func BenchmarkAppendPage(b *testing.B) {
	body := benchPage(b)
	var p page
	if err := p.decode(body); err != nil {
		b.Fatal(err)
	}
	idx := make([]int, len(p.items))
	for i := range idx {
		idx[i] = i
	}
	cs := newCheckinStream(memory.NewGoAllocator(), "steps")
	defer cs.release()
	for b.Loop() {
		cs.appendRows(&p, idx, "10001")
		rec := cs.record()
		if rec.NumRows() != 1000 {
			b.Fatal(rec.NumRows())
		}
		rec.Release()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/checkin")
}

// benchPage returns the benchmarks' page: 1,000 steps check-ins as the
// emulator renders them.
func benchPage(b *testing.B) []byte { return benchPageOf(b, 1) }

// benchPageOf returns a page like benchPage's, of the emulator with the given
// seed.
func benchPageOf(b *testing.B, seed int64) []byte {
	srv := azumiotest.New(azumiotest.Options{Seed: seed, Users: 1, Checkins: 1000, Types: []string{"steps"}, NoFragments: true})
	req := httptest.NewRequest("GET", "/api2/checkins?type=steps&since=0&limit=1000", nil)
	req.Header.Set("X-Client-ID", srv.ClientID())
	req.Header.Set("Authorization", "OAuth "+srv.Tokens()["10001"].AccessToken)
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, req)
	return w.Body.Bytes()
}

// BenchmarkDecodePageGoJSON measures what decoding the benchmarks' page cost
// before direct.go: go-json's pass, on top of the scanner's.
func BenchmarkDecodePageGoJSON(b *testing.B) {
	body := benchPage(b)
	var typed pageJSON
	for b.Loop() {
		typed.Checkins = typed.Checkins[:0]
		if err := json.UnmarshalWithOption(body, &typed, json.DecodeNoCopyString()); err != nil || len(typed.Checkins) != 1000 {
			b.Fatal(err, len(typed.Checkins))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/checkin")
}

// TestKeyGuessesChangeNothing decodes a page whose check-ins have their
// members in changing orders (known and unknown keys swapping places, a key
// that starts like another, fragments, spaces) and checks that every check-in
// decodes as it does alone on a fresh page, with no keys guessed.
func TestKeyGuessesChangeNothing(t *testing.T) {
	checkins := []string{
		`{"id": "1", "version": 2, "type": "steps", "modified": 1000, "steps": 5, "idx": 7, "#steps_profile": "p1"}`,
		`{"id": "2", "version": 3, "type": "steps", "modified": 1001, "steps": 6, "idx": 8, "#steps_profile": "p2"}`,
		`{"idx": "2", "id": "3", "type": "steps", "version": 4, "modified": 1002, "steps": null, "deleted": true}`,
		`{"id": "4", "version": 5, "type": "steps", "modified": 1003, "value": 1.5, "idx": 9}`,
		`{"id" : "5", "version":6,"type":"weight","modified":1004,"steps":7}`,
		`{"id": "6", "version": 7, "type": "steps", "modified": 1005, "steps": 5, "idx": 7, "#steps_profile": "p1"}`,
	}
	var p page
	p.deletedKey = "deleted"
	if err := p.decode([]byte(`{"hasMore": false, "checkins": [` + strings.Join(checkins, ",") + `]}`)); err != nil {
		t.Fatal(err)
	}
	if len(p.guess) == 0 {
		t.Fatal("no keys guessed: the test does not test guesses")
	}
	for i, c := range checkins {
		var alone page
		alone.deletedKey = "deleted"
		if err := alone.decode([]byte(`{"checkins": [` + c + `]}`)); err != nil {
			t.Fatal(err)
		}
		got, want := p.items[i], alone.items[0]
		if got.present != want.present || got.deleted != want.deleted || !reflect.DeepEqual(p.typed.Checkins[i], alone.typed.Checkins[0]) {
			t.Errorf("check-in %d: got %+v %+v, want %+v %+v", i, got, p.typed.Checkins[i], want, alone.typed.Checkins[0])
		}
		var gotExtra, wantExtra []byte
		gotExtra, _ = p.appendExtra(nil, i, true)
		wantExtra, _ = alone.appendExtra(nil, 0, true)
		if string(gotExtra) != string(wantExtra) || !reflect.DeepEqual(p.fragments(i), alone.fragments(0)) {
			t.Errorf("check-in %d: got _extra %s, fragments %v; want %s, %v", i, gotExtra, p.fragments(i), wantExtra, alone.fragments(0))
		}
	}
}
