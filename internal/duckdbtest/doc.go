// Package duckdbtest reads files back with the real DuckDB, for tests: a sink test
// writes Parquet (or CSV) and then asks DuckDB what a user of DuckDB would see.
//
//	rows := duckdbtest.Query(t, "SELECT id, typeof(ts) AS t FROM read_parquet("+
//		duckdbtest.Literal(dir+"/**/*.parquet")+", hive_partitioning = true) ORDER BY id")
//
// DuckDB runs in Node.js through the npm package @duckdb/node-api, pinned in
// node/package.json and node/package-lock.json. The first query of a test process
// installs it with `npm ci` into node/node_modules (gitignored), holding a lock file so
// that test binaries running in parallel install it once; later runs find it installed.
// If node or npm is missing, or the install fails, the test fails with the reason: it
// never skips. One Node process per test binary serves every query (node/query.mjs
// --serve), each query in its own fresh in-memory DuckDB, so queries do not see each
// other's tables and the Node start-up is paid once.
//
// Values come back as Go values chosen by their DuckDB type, the same way on every
// machine and time zone:
//
//	NULL                              nil
//	BOOLEAN                           bool
//	TINYINT..BIGINT, UTINYINT..       int64; uint64 above math.MaxInt64; HUGEINT values
//	  UBIGINT, HUGEINT, UHUGEINT        outside both ranges as decimal text (string)
//	FLOAT, DOUBLE                     float64 (NaN and ±Inf included)
//	TIMESTAMP WITH TIME ZONE          string, ISO 8601 in UTC with "Z": "2026-11-21T10:00:00.123Z"
//	TIMESTAMP, TIMESTAMP_S/_MS/_NS    string, the same without "Z": "2026-11-21T10:00:00.123"
//	                                    (fraction trimmed of trailing zeros, absent when zero)
//	DATE                              string "2026-11-21"
//	BLOB                              []byte
//	LIST, ARRAY                       []any
//	STRUCT                            map[string]any
//	MAP                               []any of map[string]any{"key": k, "value": v}
//	UNION                             map[string]any{tag: value}
//	anything else                     string, DuckDB's own text (VARCHAR, DECIMAL, UUID,
//	                                    INTERVAL, TIME, ENUM, infinite timestamps...)
package duckdbtest
