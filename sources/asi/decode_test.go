package asi

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	json "github.com/goccy/go-json"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestParseNumbers(t *testing.T) {
	tests := []struct {
		in    string
		vals  []float64
		valid []bool
		ok    bool
	}{
		{`[]`, nil, nil, true},
		{` [ 1, -2.5e3 ,3 ] `, []float64{1, -2500, 3}, nil, true},
		{`[1,null,2]`, []float64{1, 0, 2}, []bool{true, false, true}, true},
		{`[null]`, []float64{0}, []bool{false}, true},
		{`[1597924127900.0]`, []float64{1597924127900}, nil, true},
		{`[1,"2"]`, nil, nil, false},
		{`[true]`, nil, nil, false},
		{`[1,]`, nil, nil, false},
		{`[1 2]`, nil, nil, false},
		{`[1`, nil, nil, false},
		{`{"a":1}`, nil, nil, false},
		{`[nul]`, nil, nil, false},
		{`[1e999]`, nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			vals, valid, ok := parseNumbers([]byte(tt.in), nil, nil)
			if ok != tt.ok || !slices.Equal(vals, tt.vals) || !slices.Equal(valid, tt.valid) {
				t.Errorf("got %v %v %v, want %v %v %v", vals, valid, ok, tt.vals, tt.valid, tt.ok)
			}
		})
	}
	// Appending keeps what was there, and a failure leaves it as it was.
	vals, valid, ok := parseNumbers([]byte(`[3,null]`), []float64{1, 2}, nil)
	if !ok || !slices.Equal(vals, []float64{1, 2, 3, 0}) || !slices.Equal(valid, []bool{true, true, true, false}) {
		t.Errorf("append: got %v %v %v", vals, valid, ok)
	}
	vals, _, ok = parseNumbers([]byte(`[3,"x"]`), []float64{1, 2}, nil)
	if ok || !slices.Equal(vals, []float64{1, 2}) {
		t.Errorf("failed append: got %v %v, want [1 2] false", vals, ok)
	}
}

func BenchmarkParseNumbers(b *testing.B) {
	raw := []byte(`[46.5197123,46.5197456,46.5197789,46.5198012,46.5198345,46.5198678,46.5198901,46.5199234,46.5199567,46.5199890]`)
	var vals []float64
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		vals, _, _ = parseNumbers(raw, vals[:0], nil)
	}
}

// dump prints a record as text: its stream, schema (with field metadata) and
// rows, one JSON object per line.
func dump(w *bytes.Buffer, stream string, rec arrow.RecordBatch) {
	fmt.Fprintf(w, "== %s\n", stream)
	for _, f := range rec.Schema().Fields() {
		fmt.Fprintf(w, "%s: %s", f.Name, f.Type)
		if !f.Nullable {
			w.WriteString(" not null")
		}
		if u, ok := f.Metadata.GetValue("unit"); ok {
			fmt.Fprintf(w, " [unit %s]", u)
		}
		if st, ok := f.Type.(*arrow.ListType); ok {
			if s, ok := st.Elem().(*arrow.StructType); ok {
				for _, sf := range s.Fields() {
					if u, ok := sf.Metadata.GetValue("unit"); ok {
						fmt.Fprintf(w, " [%s unit %s]", sf.Name, u)
					}
				}
			}
		}
		w.WriteString("\n")
	}
	raw, err := rec.MarshalJSON()
	if err != nil {
		fmt.Fprintf(w, "error: %v\n", err)
		return
	}
	var rows []json.RawMessage
	json.Unmarshal(raw, &rows)
	for _, r := range rows {
		var b bytes.Buffer
		json.Compact(&b, r)
		w.Write(b.Bytes())
		w.WriteString("\n")
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: got\n%s\nwant\n%s\n(go test -update rewrites it)", path, got, want)
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestComputedGolden decodes the guide's computed-data message, with
// undocumented keys, a value of the wrong type, an undocumented key inside a
// threshold and ten thresholds, into asi.computed.
func TestComputedGolden(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var tf map[string]json.RawMessage
	if err := json.Unmarshal(readTestdata(t, "timeframe.json"), &tf); err != nil {
		t.Fatal(err)
	}
	row, err := decodeComputed(86, 1, tf, readTestdata(t, "computed.json"))
	if err != nil {
		t.Fatal(err)
	}
	rec := buildComputed(mem, []computedRow{row})
	defer rec.Release()
	var b bytes.Buffer
	dump(&b, StreamComputed, rec)
	golden(t, "computed.golden", b.Bytes())

	if _, err := decodeComputed(1, 1, tf, []byte(`[1, 2]`)); err == nil {
		t.Errorf("computed data that is no object: got no error")
	}
}

// TestPreprocessedGolden decodes a page of messages: documented groups, an
// undocumented group and field, nulls, a bool as 1, a fractional timestamp,
// a string where a number belongs, and broken groups for the dead letters.
func TestPreprocessedGolden(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var results []json.RawMessage
	if err := json.Unmarshal(readTestdata(t, "preprocessed.json"), &results); err != nil {
		t.Fatal(err)
	}
	p := decodePage(results, nil)
	var b bytes.Buffer
	for _, name := range p.names() {
		rec := p.groups[name].build(mem, 7)
		dump(&b, streamName(name), rec)
		rec.Release()
	}
	b.WriteString("== dead letters\n")
	for _, r := range p.rejects {
		fmt.Fprintf(&b, "%s: %s\n", r.reason, r.raw)
	}
	golden(t, "preprocessed.golden", b.Bytes())

	// The groups option keeps only the groups named.
	p = decodePage(results, groupSelector([]string{"ECG", "imu"}))
	if got := p.names(); !slices.Equal(got, []string{"ecg", "imu"}) {
		t.Errorf("groups [ECG, imu]: got %v", got)
	}
	for _, g := range p.groups {
		rec := g.build(mem, 7)
		rec.Release()
	}
}

func TestGroupRowsRejectsUnevenArrays(t *testing.T) {
	tests := []struct {
		name, group, raw, want string
	}{
		{"no timestamp", "gnss", `{"speed": [1]}`, "no timestamp array"},
		{"null timestamp", "gnss", `{"timestamp": [1, null], "speed": [1, 2]}`, "without nulls"},
		{"short known field", "gnss", `{"timestamp": [1, 2], "speed": [1]}`, "speed has 1 values, timestamp 2"},
		{"short unknown field", "gnss", `{"timestamp": [1, 2], "hdop": [1]}`, "hdop has 1 values, timestamp 2"},
		{"unknown group", "imu", `{"timestamp": [1], "acc_x": [1, 2]}`, "acc_x has 2 values, timestamp 1"},
		{"not an array", "ecg", `{"timestamp": [1], "hr": 60}`, "hr has no array of values"},
		{"not an object", "ecg", `[1]`, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGroupRows(tt.group)
			if err := g.add(json.RawMessage(`{"timestamp": [0], "speed": [0.5], "acc_x": [0.5], "hr": [60]}`)); err != nil {
				t.Fatal(err)
			}
			err := g.add(json.RawMessage(tt.raw))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			}
			// Nothing of the rejected group stays behind.
			if g.n != 1 || len(g.ts) != 1 {
				t.Errorf("after the rejection: got %d rows, want the 1 before it", g.n)
			}
			for i, f := range g.nums {
				if len(f.vals) > 1 {
					t.Errorf("column %s: got %d values, want at most 1", g.known[i].key, len(f.vals))
				}
			}
			for k, v := range g.dyn {
				if len(v) > 1 {
					t.Errorf("column %s: got %d values, want at most 1", k, len(v))
				}
			}
		})
	}
}

func TestObjectSchemaKeepsEveryKey(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	objs := []json.RawMessage{
		json.RawMessage(`{"id": 1, "name": "A", "activated": true, "owner": 3, "owned_since": "2026-01-30T09:00:00.000Z", "serial_number": "ASI-1", "firmware": "2.1"}`),
		json.RawMessage(`{"id": 2, "name": 7, "activated": "yes", "owner": null, "owned_since": null}`),
		json.RawMessage(`{"name": "no id"}`),
		json.RawMessage(`"not an object"`),
	}
	rec, rejects := devicesSchema.build(mem, objs)
	defer rec.Release()
	var b bytes.Buffer
	dump(&b, devicesSchema.stream, rec)
	want := `== asi.devices
device_id: int64 not null
serial_number: utf8
name: utf8
activated: bool
owner_id: int64
owned_since: timestamp[ms, tz=UTC]
_extra: utf8
{"_extra":"{\"firmware\":\"2.1\"}","activated":true,"device_id":1,"name":"A","owned_since":"2026-01-30T09:00:00Z","owner_id":3,"serial_number":"ASI-1"}
{"_extra":"{\"activated\":\"yes\",\"name\":7}","activated":null,"device_id":2,"name":null,"owned_since":null,"owner_id":null,"serial_number":null}
`
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if len(rejects) != 2 || !strings.Contains(rejects[0].reason, "id: want an integer, got nothing") || !strings.Contains(rejects[1].reason, "not a JSON object") {
		t.Errorf("rejects: got %+v, want the object without id and the string", rejects)
	}
}

func TestFingerprintIsCanonical(t *testing.T) {
	a, _ := fingerprint([]byte(`{"a": 1, "b": [1.50, {"c": null}]}`))
	b, _ := fingerprint([]byte(`{"b":[1.50,{"c":null}],"a":1}`))
	c, _ := fingerprint([]byte(`{"b":[1.5,{"c":null}],"a":1}`))
	if a != b {
		t.Errorf("same content, other key order: got %s and %s, want equal", a, b)
	}
	if a == c {
		t.Errorf("1.50 and 1.5 gave the same fingerprint; numbers are kept as written")
	}
	if _, err := fingerprint([]byte(`{`)); err == nil {
		t.Errorf("broken JSON: got no error")
	}
}

func TestMembers(t *testing.T) {
	tests := []struct {
		in   string
		want []string // key=value
		ok   bool
	}{
		{`{}`, nil, true},
		{` { "a" : 1 , "b":[1,[2,{"x":"]"}]], "c": {"d": "}\"{"}, "e":null,"f":true } `,
			[]string{`a=1`, `b=[1,[2,{"x":"]"}]]`, `c={"d": "}\"{"}`, `e=null`, `f=true`}, true},
		{`{"k\u00e9y": "v"}`, []string{`kéy="v"`}, true},
		{`{"a": "unterminated}`, nil, false},
		{`{"a": [1, 2}`, nil, false},
		{`{"a" 1}`, nil, false},
		{`{"a": 1,}`, nil, false},
		{`{"a": 1} x`, nil, false},
		{`[1]`, nil, false},
		{`{a: 1}`, nil, false},
		{``, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got []string
			err := members([]byte(tt.in), func(k, v []byte) error {
				got = append(got, string(k)+"="+string(v))
				return nil
			})
			if (err == nil) != tt.ok || (tt.ok && !slices.Equal(got, tt.want)) {
				t.Errorf("got %q, %v; want %q, ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestSplitArray(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		ok   bool
	}{
		{`[]`, []string{}, true},
		{` [ {"a": [1, "]"]}, 2 ,"x", null ] `, []string{`{"a": [1, "]"]}`, `2`, `"x"`, `null`}, true},
		{`[1,]`, nil, false},
		{`[1`, nil, false},
		{`{}`, nil, false},
		{`[1] 2`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			elems, ok := splitArray([]byte(tt.in))
			got := make([]string, len(elems))
			for i, e := range elems {
				got[i] = string(e)
			}
			if ok != tt.ok || (ok && !slices.Equal(got, tt.want)) {
				t.Errorf("got %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestMessageTime checks the scanning messageTime against decoding the
// message with goccy/go-json (what it replaced) on valid and invalid messages.
func TestMessageTime(t *testing.T) {
	decoded := func(msg []byte) int64 {
		var groups map[string]struct {
			Timestamp []float64 `json:"timestamp"`
		}
		if json.Unmarshal(msg, &groups) != nil {
			return 0
		}
		var t int64
		for _, g := range groups {
			for _, v := range g.Timestamp {
				t = max(t, int64(v))
			}
		}
		return t
	}
	for _, tc := range []struct {
		msg  string
		want int64
	}{
		{`{"gnss": {"timestamp": [1700000000000, 1700000000100], "latitude": [1, 2]}, "ecg": {"hr": [60], "timestamp": [1700000000200]}}`, 1700000000200},
		{` { "gnss" : { "timestamp" : [ 1700000000000.4 ] } } `, 1700000000000},
		{`{"gnss": {"timestamp": [1700000000000, null]}}`, 1700000000000},
		{`{"gnss": {"timestamp": null}, "ecg": null}`, 0},
		{`{"gnss": {"latitude": [1]}}`, 0},
		{`{}`, 0},
		{`{"gnss": {"timestamp": ["x"]}, "ecg": {"timestamp": [5]}}`, 0},
		{`{"gnss": 5}`, 0},
		{`[1, 2]`, 0},
		{`{"gnss": {"timestamp": [1700000000000]}`, 0},
		{``, 0},
	} {
		if got := messageTime([]byte(tc.msg)); got != tc.want {
			t.Errorf("messageTime(%s) = %d, want %d", tc.msg, got, tc.want)
		}
		if got := decoded([]byte(tc.msg)); got != tc.want {
			t.Errorf("decoding %s gives %d, the table says %d", tc.msg, got, tc.want)
		}
	}
}
