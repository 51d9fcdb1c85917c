package azumio

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestScannerObjectMembers(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // key=value pairs joined by |
		wantErr  string // substring; "cut" for errCut
	}{
		{"empty", `{}`, "", ""},
		{"spaces", " {\n \"a\" :\t1 , \"b\":\"x\" }\n", `a=1|b="x"`, ""},
		{"nested", `{"a":{"b":[1,{"c":"}]"}]},"d":null}`, `a={"b":[1,{"c":"}]"}]}|d=null`, ""},
		{"escaped quote in value", `{"a":"x\"y\\"}`, `a="x\"y\\"`, ""},
		{"escaped key", `{"k\u00e9\"y":true}`, `ké"y=true`, ""},
		{"backslash pairs before quote", `{"a":"\\\\","b":2}`, `a="\\\\"|b=2`, ""},
		{"numbers", `{"a":-1.5e3,"b":0}`, `a=-1.5e3|b=0`, ""},
		{"cut in a string", `{"a":"abc`, "", "cut"},
		{"cut in a nested value", `{"a":{"b":[1,2`, "", "cut"},
		{"cut after a value", `{"a":1`, "", "cut"},
		{"cut after a key", `{"a"`, "", "cut"},
		{"missing colon", `{"a" 1}`, "", "want ':'"},
		{"missing comma", `{"a":1 "b":2}`, "", "want , or }"},
		{"not an object", `[1]`, "", "want '{'"},
		{"bad escape in key", `{"\x":1}`, "", "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := scanner{b: []byte(tt.in)}
			var got []string
			err := s.object(func(key []byte) error {
				v, err := s.value()
				got = append(got, string(key)+"="+string(v))
				return err
			})
			if err == nil {
				err = s.end()
			}
			switch {
			case tt.wantErr == "cut":
				if !errors.Is(err, errCut) {
					t.Errorf("got error %v, want errCut", err)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got error %v, want one containing %q", err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("got error %v", err)
			case strings.Join(got, "|") != tt.want:
				t.Errorf("got %q, want %q", strings.Join(got, "|"), tt.want)
			}
		})
	}
}

func TestPageDecodeCutBodyIsAnError(t *testing.T) {
	full := `{"hasMore":true,"checkins":[{"id":"1","version":1,"type":"steps","modified":5},{"id":"2","version":1,"type":"steps","modified":6}]}`
	for cut := 1; cut < len(full); cut++ {
		p := page{deletedKey: "deleted"}
		if err := p.decode([]byte(full[:cut])); err == nil {
			t.Fatalf("decode of the first %d bytes: got no error, want one", cut)
		}
	}
	p := page{deletedKey: "deleted"}
	if err := p.decode([]byte(full)); err != nil || len(p.items) != 2 || !p.hasMore {
		t.Fatalf("decode: got %v with %d items, hasMore %v", err, len(p.items), p.hasMore)
	}
	if err := p.decode([]byte(`{"hasMore":false}`)); err == nil {
		t.Errorf("decode of an answer without check-ins: got no error")
	}
}

func TestPositionRoundTrip(t *testing.T) {
	p := position{Since: 12, Seen: []seenEntry{{"b", 2}, {"a", 1}}, Pending: []pendingFragment{{"a", 1, "path", "7"}}, Profile: "ff"}
	raw := p.encode()
	if want := `{"since":12,"seen":[["a",1],["b",2]],"pending":[["a",1,"path","7"]],"profile":"ff"}`; string(raw) != want {
		t.Errorf("encode: got %s, want %s", raw, want)
	}
	back, err := decodePosition(raw)
	if err != nil {
		t.Fatal(err)
	}
	if string(back.encode()) != string(raw) {
		t.Errorf("round trip: got %s, want %s", back.encode(), raw)
	}
	for _, bad := range []string{`{"since":"x"}`, `{"seen":[["a"]]}`, `{"pending":[["a",1,"x"]]}`, `[]`} {
		if _, err := decodePosition([]byte(bad)); err == nil {
			t.Errorf("decodePosition(%s): got no error", bad)
		}
	}
}

// TestFastCheckinScanAgreesWithTheGeneralOne scans check-ins of every shape both
// ways and compares what they record.
func TestFastCheckinScanAgreesWithTheGeneralOne(t *testing.T) {
	objects := []string{
		`{}`,
		` { } `,
		`{"id":"1","version":2,"type":"steps","modified":5,"steps":null,"value":1.5e3,"live":true}`,
		"{ \"id\" : \"1\" ,\n\t\"privacy_groups\" : [ \"a\" , \"b\\\"c\" ] , \"deleted\" : true }",
		`{"#steps_profile":123,"#path":"p1","mood":"ok","deleted":false,"calories":null}`,
		`{"id":"x\\\"y","nested":{"a":[1,{"b":"}"}]},"list":[1,2],"t":-1.5E-3}`,
		`{"k\u00e9y":1,"id":"2"}`,
		`{"privacy_groups":[],"end":1,"deleted":"yes"}`,
	}
	for _, obj := range objects {
		body := []byte(`{"checkins":[` + obj + `]}`)
		scan := func(fast bool) (item, []string) {
			p := page{deletedKey: "deleted"}
			p.sc = scanner{b: body, i: len(`{"checkins":[`)}
			p.sc.ws()
			it := item{}
			ok := false
			if fast {
				ok = p.scanCheckinFast(&it)
			}
			if !ok {
				p.members = p.members[:0]
				it = item{}
				p.sc.i = len(`{"checkins":[`)
				if err := p.sc.object(func(key []byte) error {
					val, err := p.sc.value()
					if err == nil {
						p.member(&it, key, val)
					}
					return err
				}); err != nil {
					t.Fatalf("%s: %v", obj, err)
				}
			}
			var ms []string
			for _, m := range p.members {
				ms = append(ms, fmt.Sprintf("%d %s=%s", m.kind, p.key(&m), m.val))
			}
			if rest := strings.TrimSpace(string(body[p.sc.i:])); rest != "]}" {
				t.Errorf("%s (fast %v): scanner stopped before %q", obj, fast, rest)
			}
			return it, ms
		}
		fi, fm := scan(true)
		gi, gm := scan(false)
		if fi.present != gi.present || fi.deleted != gi.deleted || strings.Join(fm, "|") != strings.Join(gm, "|") {
			t.Errorf("%s:\nfast    %b %v %q\ngeneral %b %v %q", obj, fi.present, fi.deleted, fm, gi.present, gi.deleted, gm)
		}
	}
}
