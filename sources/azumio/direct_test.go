package azumio

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/goccy/go-json"
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
