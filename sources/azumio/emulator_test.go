package azumio_test

import (
	"fmt"
	"path/filepath"
	"sort"
	"testing"

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
