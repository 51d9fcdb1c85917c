package duckdbtest

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestQueryConvertsValues(t *testing.T) {
	// The session time zone must not change what comes back.
	res := Run(t, `SET TimeZone = 'America/New_York';
		SELECT 42 AS i, -9223372036854775808 AS big, 12345678901234567890::UBIGINT AS ubig,
		       170141183460469231731687303715884105727::HUGEINT AS huge,
		       1.0::DOUBLE AS d, 1.5::FLOAT AS f, 'nan'::DOUBLE AS nan, '-inf'::DOUBLE AS ninf,
		       true AS b, 'x''y' AS s, NULL AS z,
		       TIMESTAMPTZ '2026-11-21 10:00:00.123+00' AS tz,
		       TIMESTAMP '1969-12-31 23:59:59.5' AS ts, TIMESTAMP '2026-01-02 03:04:05' AS whole,
		       TIMESTAMP_NS '2020-01-01 00:00:00.000000001' AS ns,
		       DATE '1960-01-02' AS day, '\x01\xff'::BLOB AS blob,
		       [1, NULL, 3] AS l, {'x': 1.5::DOUBLE, 'y': [true]} AS st, MAP {'k': 1} AS m,
		       1.25::DECIMAL(5,2) AS dec`)
	if len(res.Rows) != 1 {
		t.Fatalf("got %d rows, want 1", len(res.Rows))
	}
	got := res.Maps()[0]
	want := map[string]any{
		"i": int64(42), "big": int64(math.MinInt64), "ubig": uint64(12345678901234567890),
		"huge": "170141183460469231731687303715884105727",
		"d":    1.0, "f": 1.5, "b": true, "s": "x'y", "z": nil,
		"tz": "2026-11-21T10:00:00.123Z", "ts": "1969-12-31T23:59:59.5", "whole": "2026-01-02T03:04:05",
		"ns": "2020-01-01T00:00:00.000000001", "day": "1960-01-02", "blob": []byte{1, 0xff},
		"l":   []any{int64(1), nil, int64(3)},
		"st":  map[string]any{"x": 1.5, "y": []any{true}},
		"m":   []any{map[string]any{"key": "k", "value": int64(1)}},
		"dec": "1.25",
	}
	for k, w := range want {
		if g := got[k]; !reflect.DeepEqual(g, w) {
			t.Errorf("%s: got %#v, want %#v", k, g, w)
		}
	}
	if v, ok := got["nan"].(float64); !ok || !math.IsNaN(v) {
		t.Errorf("nan: got %#v, want NaN", got["nan"])
	}
	if v, ok := got["ninf"].(float64); !ok || !math.IsInf(v, -1) {
		t.Errorf("ninf: got %#v, want -Inf", got["ninf"])
	}
	if i := indexOf(res.Columns, "tz"); i < 0 || res.Types[i] != "TIMESTAMP WITH TIME ZONE" {
		t.Errorf("types: got %v for columns %v, want tz TIMESTAMP WITH TIME ZONE", res.Types, res.Columns)
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func TestQueryReadsFilesWithQuotedPaths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "it's here")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "a.csv")
	if err := os.WriteFile(file, []byte("id,name\n1,one\n2,two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := Query(t, "SELECT id, name FROM read_csv("+Literal(file)+") ORDER BY id")
	want := []map[string]any{{"id": int64(1), "name": "one"}, {"id": int64(2), "name": "two"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestQueriesAreIsolatedAndConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each query has its own database: the table never exists beforehand.
			got := Query(t, "CREATE TABLE x AS SELECT "+string(rune('0'+i))+" AS v; SELECT v FROM x")
			if len(got) != 1 || got[0]["v"] != int64(i) {
				t.Errorf("query %d: got %v, want v=%d", i, got, i)
			}
		}()
	}
	wg.Wait()
}

func TestQueryErrorNamesTheProblem(t *testing.T) {
	_, err := run("SELECT * FROM no_such_table")
	if err == nil || !strings.Contains(err.Error(), "no_such_table") {
		t.Fatalf("got %v, want an error naming no_such_table", err)
	}
	// The server survives a bad query.
	if got := Query(t, "SELECT 1 AS one"); got[0]["one"] != int64(1) {
		t.Errorf("got %v after an error, want one=1", got)
	}
}

func TestLiteral(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/a/b.parquet", "'/a/b.parquet'"},
		{"it's", "'it''s'"},
		{"", "''"},
	} {
		if got := Literal(tc.in); got != tc.want {
			t.Errorf("Literal(%q): got %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestLockFileExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	unlock, err := lockFile(path)
	if err != nil {
		t.Fatal(err)
	}
	acquired := make(chan func())
	go func() {
		u, err := lockFile(path)
		if err != nil {
			t.Error(err)
			close(acquired)
			return
		}
		acquired <- u
	}()
	select {
	case <-acquired:
		t.Fatal("second lock taken while the first is held")
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	select {
	case u := <-acquired:
		if u != nil {
			u()
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second lock not taken after the first was released")
	}
}

func TestInstallIntoFreshDirectory(t *testing.T) {
	src, err := nodeDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Two installers at once: the lock makes the second find the first's work.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = installModules(dir)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("installer %d: %v", i, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@duckdb", "node-api", "package.json")); err != nil {
		t.Errorf("got no @duckdb/node-api after install: %v", err)
	}
}

func TestInstallFailureIsAnError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"x","dependencies":{"left-pad":"1.3.0"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// A lock file that does not match package.json: npm ci refuses it.
	if err := os.WriteFile(filepath.Join(dir, "package-lock.json"), []byte(`{"name":"x","lockfileVersion":3,"requires":true,"packages":{"":{"name":"x"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	err := installModules(dir)
	if err == nil || !strings.Contains(err.Error(), "npm ci") {
		t.Fatalf("got %v, want an npm ci error", err)
	}
}
