package azumio_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/etl-toolkit/etl/core/siunits"
	"github.com/etl-toolkit/etl/internal/duckdbtest"
	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

// quickstartPipeline is the shape of the README's first command: the source
// starts its emulator in-process and the rows go to zstd Parquet and to CSV.
const quickstartPipeline = `version: 1
name: azumio-quickstart
state: ${DIR}/state
source:
  plugin: azumio
  config:
    base_url: emulator
    emulator: { seed: 42, users: 3, checkins: 120 }
    requests_per_second: 0
sinks:
  - plugin: parquet
    config: { path: "${DIR}/parquet", partition_by: [stream], compression: zstd }
  - plugin: csv
    config: { path: "${DIR}/csv", partition_by: [stream] }
`

// parquetFiles is a DuckDB literal globbing the Parquet files of the streams
// starting with stream.
func parquetFiles(dir, stream string) string {
	return duckdbtest.Literal(filepath.Join(dir, "parquet", "stream="+stream+"*", "*.parquet"))
}

func TestInProcessEmulatorToParquetAndCSV(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DIR": dir}
	if _, err := runPipeline(t, quickstartPipeline, env); err != nil {
		t.Fatalf("run: %v", err)
	}
	// Equal seeds give equal data: an emulator of our own says what the
	// in-process one served.
	ref := azumiotest.New(azumiotest.Options{Seed: 42, Users: 3, Checkins: 120})
	want := refVersions(allRefs(ref))
	checkVersions(t, "CSV", csvVersionsIn(t, filepath.Join(dir, "csv")), want)

	rows := duckdbtest.Query(t, "SELECT user_id || '/' || id || '/' || version AS v FROM read_parquet("+
		parquetFiles(dir, "azumio.checkins.")+", union_by_name = true)")
	var got []string
	for _, r := range rows {
		got = append(got, r["v"].(string))
	}
	sort.Strings(got)
	checkVersions(t, "Parquet read by DuckDB", got, want)

	// Types and units as a reader sees them.
	res := duckdbtest.Run(t, "SELECT modified, privacy_groups, fragments, distance, steps FROM read_parquet("+parquetFiles(dir, "azumio.checkins.steps")+") LIMIT 1")
	wantTypes := map[string]string{"modified": "TIMESTAMP WITH TIME ZONE", "privacy_groups": "VARCHAR[]",
		"fragments": `STRUCT("name" VARCHAR, "id" VARCHAR)[]`, "distance": "DOUBLE", "steps": "DOUBLE"}
	for i, c := range res.Columns {
		if res.Types[i] != wantTypes[c] {
			t.Errorf("column %s: got DuckDB type %s, want %s", c, res.Types[i], wantTypes[c])
		}
	}
	units := map[string]string{}
	for _, r := range duckdbtest.Query(t, "SELECT DISTINCT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata("+
		parquetFiles(dir, "azumio.checkins.steps")+") WHERE decode(key) LIKE '%.unit'") {
		units[r["k"].(string)] = r["v"].(string)
	}
	for col, unit := range map[string]string{"distance.unit": "m", "activeDuration.unit": "s", "calories.unit": "kcal", "timezone.unit": "h"} {
		if units[col] != unit {
			t.Errorf("Parquet key-value %s: got %q, want %q (all: %v)", col, units[col], unit, units)
		}
	}
	frag := duckdbtest.Query(t, "SELECT count(*) AS n FROM read_parquet("+parquetFiles(dir, "azumio.fragments.steps_profile")+")")
	if n := len(csvRows(t, filepath.Join(dir, "csv"), "azumio.fragments.steps_profile")); fmt.Sprint(frag[0]["n"]) != fmt.Sprint(n) || n == 0 {
		t.Errorf("steps_profile: got %v rows in Parquet and %d in CSV, want the same, more than 0", frag[0]["n"], n)
	}

	// A second run starts the same emulator again and exports nothing new.
	sum, err := runPipeline(t, quickstartPipeline, env)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows() != 0 {
		t.Errorf("second run: got %d rows, want 0", sum.Rows())
	}
}

// TestNightlyPipelineRunsAgainstTheEmulator runs pipelines/azumio-nightly.yaml
// as shipped, with its environment pointing at an emulator: it loads, builds,
// exports every check-in once through si_units into Parquet, and a second run
// after changes exports only them.
func TestNightlyPipelineRunsAgainstTheEmulator(t *testing.T) {
	src, err := os.ReadFile("../../pipelines/azumio-nightly.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 13, Users: 3, Checkins: 60})
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.json")
	if err := srv.WriteTokens(tokens); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"DIR": dir, "AZUMIO_STATE": filepath.Join(dir, "state"), "AZUMIO_LAKE": filepath.Join(dir, "lake"),
		"AZUMIO_BASE_URL": srv.URL(), "AZUMIO_CLIENT_ID": srv.ClientID(), "AZUMIO_CLIENT_SECRET": srv.ClientSecret(),
		"AZUMIO_TOKENS": tokens,
	}
	// As fast as the emulator allows: the shipped rate is for the real service.
	yaml := strings.Replace(string(src), "requests_per_second: 5", "requests_per_second: 0", 1)
	if _, err := runPipeline(t, yaml, env); err != nil {
		t.Fatalf("first run: %v", err)
	}
	first := allRefs(srv)
	changes := srv.Advance(time.Hour, azumiotest.Changes{New: 2, Edited: 1, Deleted: 1})
	sum, err := runPipeline(t, yaml, env)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	var rows int64
	for _, s := range sum.Streams {
		if strings.HasPrefix(s.Stream, "azumio.checkins.") {
			rows += s.Rows
		}
	}
	if rows != int64(len(changes)) {
		t.Errorf("second run: got %d check-in rows, want %d", rows, len(changes))
	}
	glob := duckdbtest.Literal(filepath.Join(dir, "lake", "azumio", "stream=azumio.checkins.*", "*.parquet"))
	var got []string
	for _, r := range duckdbtest.Query(t, "SELECT user_id || '/' || id || '/' || version AS v FROM read_parquet("+glob+", union_by_name = true)") {
		got = append(got, r["v"].(string))
	}
	sort.Strings(got)
	checkVersions(t, "the lake", got, refVersions(first, changes))
	// si_units made joules of the calories and kept the kilocalories beside them.
	steps := duckdbtest.Literal(filepath.Join(dir, "lake", "azumio", "stream=azumio.checkins.steps", "*.parquet"))
	r := duckdbtest.Query(t, "SELECT count(*) AS n FROM read_parquet("+steps+") WHERE abs(calories - calories_kcal * 4184) > 1e-6 * calories")
	if fmt.Sprint(r[0]["n"]) != "0" {
		t.Errorf("calories: %v rows where calories != calories_kcal × 4184", r[0]["n"])
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "lake", "raw", "azumio", "user=*", "*.jsonl.zst")); len(files) != 6 {
		t.Errorf("raw archive: got %d files, want 6 (3 users × 2 runs)", len(files))
	}
}
