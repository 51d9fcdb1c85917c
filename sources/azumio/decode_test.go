package azumio_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etl-toolkit/etl/sources/azumio"
)

// fakeAPI serves fixed answers by path, so a test can send what the emulator
// never does. Paths missing from answers are 404s in the API's envelope.
func fakeAPI(t *testing.T, answers map[string]string) azumio.Config {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Client-ID") != "client" || r.Header.Get("Authorization") != "OAuth tok" {
			w.WriteHeader(401)
			w.Write([]byte(`{"error":{"errorDetail":"User not authenticated","code":401}}`))
			return
		}
		body, ok := answers[r.URL.Path]
		if !ok {
			w.WriteHeader(404)
			w.Write([]byte(`{"error":{"errorDetail":"no such thing","code":404}}`))
			return
		}
		w.Write([]byte(body))
	}))
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.json")
	if err := os.WriteFile(tokens, []byte(`{"users": {"u1": {"access_token": "tok"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := azumio.DefaultConfig()
	cfg.BaseURL, cfg.ClientID, cfg.Tokens = ts.URL, "client", tokens
	cfg.RequestsPerSecond = 0
	cfg.Types = nil
	return cfg
}

func TestDecodeKeepsEverythingAndDeadLettersTheRest(t *testing.T) {
	cfg := fakeAPI(t, map[string]string{
		"/api2/users/me": `{"id": 42, "name": "Ann \u00c9", "gender": null, "locale": "fr_FR"}`,
		"/api2/checkins": `{"hasMore": false, "checkins": [
			{"id": "1", "version": 1, "type": "steps", "user_id": "u1", "modified": 1000, "created": 900,
			 "steps": 10, "distance": null, "#steps_profile": "f1", "weird\"key": {"a": [1, "}"]}},
			{"id": "2", "version": "x", "type": "steps", "modified": 1001},
			{"id": "3", "version": 2, "type": "heartrate", "modified": 1002, "calories": 5.5, "value": 61,
			 "privacy_groups": ["a", "b"], "live": false},
			{"version": 3, "type": "steps", "modified": 1003},
			{"id": "5", "version": 1, "type": "yoga", "modified": 1004, "#pose_map": 7},
			{"id": "6", "version": 4, "type": "steps", "modified": 1005, "deleted": true, "#steps_profile": 9},
			{"id": "7", "version": 1, "type": "steps", "modified": 1006, "#steps_profile": 11}
		]}`,
		"/api2/checkins/1/fragments/steps_profile": `{"interval": 60, "start": 0, "values": [1, null, 3], "sensor": "acc"}`,
		"/api2/checkins/7/fragments/steps_profile": `{"values": [1]}`,
	})
	dead := &deadLetters{}
	src := newSource(t, cfg, azumio.WithDeadLetters(dead))
	res, errs := readUnits(t, src, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}

	tests := []struct {
		stream, id, column, want string
	}{
		{"azumio.checkins.steps", "1", "user_id", "u1"},
		{"azumio.checkins.steps", "1", "created", "900"},
		{"azumio.checkins.steps", "1", "timestamp", "null"},
		{"azumio.checkins.steps", "1", "steps", "10"},
		{"azumio.checkins.steps", "1", "distance", "null"},
		{"azumio.checkins.steps", "1", "deleted", "false"},
		{"azumio.checkins.steps", "1", "fragments", `[{"id":"f1","name":"steps_profile"}]`},
		{"azumio.checkins.steps", "1", "_extra", `{"weird\"key":{"a": [1, "}"]}}`},
		{"azumio.checkins.steps", "6", "deleted", "true"},
		{"azumio.checkins.steps", "6", "fragments", `[{"id":"9","name":"steps_profile"}]`},
		{"azumio.checkins.heartrate", "3", "user_id", "u1"}, // absent: the unit's user
		{"azumio.checkins.heartrate", "3", "value", "61"},
		{"azumio.checkins.heartrate", "3", "live", "false"},
		{"azumio.checkins.heartrate", "3", "privacy_groups", `["a","b"]`},
		{"azumio.checkins.heartrate", "3", "_extra", `{"calories":5.5}`},
		{"azumio.checkins.yoga", "5", "type", "yoga"},
		{"azumio.checkins.yoga", "5", "fragments", `[{"id":"7","name":"pose_map"}]`},
		{"azumio.checkins.yoga", "5", "_extra", "null"},
	}
	for _, tt := range tests {
		var found map[string]string
		for _, row := range res.rows(tt.stream) {
			if row["id"] == tt.id {
				found = row
			}
		}
		if found == nil {
			t.Errorf("%s: no row with id %s", tt.stream, tt.id)
			continue
		}
		if got := normJSON(found[tt.column]); got != normJSON(tt.want) {
			t.Errorf("%s id %s: %s: got %s, want %s", tt.stream, tt.id, tt.column, got, tt.want)
		}
	}
	if n := len(res.rows("azumio.checkins.")); n != 5 {
		t.Errorf("got %d check-in rows, want 5 (ids 1, 3, 5, 6, 7)", n)
	}

	// The steps profile: one row per interval, nulls kept, unknown members in
	// _extra; the deleted check-in's fragment is not fetched.
	frag := res.rows("azumio.fragments.steps_profile")
	wantFrag := []string{"0 1", "60000 null", "120000 3"}
	if len(frag) != len(wantFrag) {
		t.Fatalf("steps_profile: got %d rows, want 3: %v", len(frag), frag)
	}
	for i, row := range frag {
		if got := row["timestamp"] + " " + row["steps"]; got != wantFrag[i] || row["checkin_id"] != "1" || row["fragment_id"] != "f1" || row["interval"] != "60" || row["_extra"] != `{"sensor":"acc"}` {
			t.Errorf("steps_profile row %d: got %v, want %s", i, row, wantFrag[i])
		}
	}

	prof := res.rows("azumio.profile")
	if len(prof) != 1 || prof[0]["id"] != "42" || prof[0]["name"] != "Ann É" || prof[0]["gender"] != "null" || prof[0]["_extra"] != `{"locale":"fr_FR"}` {
		t.Errorf("profile: got %v", prof)
	}

	// Dead letters: the check-in whose version is not a number, the one without
	// an id, the fragment the API does not have, and the one without its start.
	wantDead := map[string]string{
		"azumio.checkins._unknown|version":             `"id": "2"`,
		"azumio.checkins._unknown|without":             `"version": 3`,
		"azumio.fragments.pose_map|not found":          `"checkin_id":"5"`,
		"azumio.fragments.steps_profile|without start": `"checkin_id":"7"`,
	}
	got := dead.all()
	if len(got) != len(wantDead) {
		t.Errorf("got %d dead letters, want %d: %+v", len(got), len(wantDead), got)
	}
	for key, value := range wantDead {
		stream, reason, _ := strings.Cut(key, "|")
		ok := false
		for _, d := range got {
			if d.Stream == stream && strings.Contains(d.Reason, reason) && strings.Contains(string(d.Value), value) && d.Unit == "user/u1" {
				ok = true
			}
		}
		if !ok {
			t.Errorf("no dead letter in %s with a reason containing %q and value containing %s: %+v", stream, reason, value, got)
		}
	}
}

// normJSON re-encodes JSON text so that spacing does not matter; other text is
// returned as it is.
func normJSON(s string) string {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}
