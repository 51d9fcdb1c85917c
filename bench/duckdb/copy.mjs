// copy.mjs is the DuckDB side of the benchmark harness's P1 (see bench/README.md):
// it converts JSON files of Azumio check-in pages ({"hasMore": ..., "checkins":
// [...]}) into one zstd Parquet file, the way a DuckDB user would, and prints
// {"rows": N, "version": "v1.x.y"} (the rows COPY wrote, DuckDB's version) on
// stdout.
//
//   node copy.mjs 'PAGES/*.json' OUT.parquet
//
// It runs in an in-memory DuckDB with DuckDB's default settings (threads: every
// core). read_json infers the schema from the pages; unnest(..., recursive :=
// true) turns each check-in into a row with one column per member.
import { DuckDBInstance } from '@duckdb/node-api';

const [glob, out] = process.argv.slice(2);
if (!glob || !out) {
  console.error('usage: node copy.mjs PAGES_GLOB OUT.parquet');
  process.exit(2);
}
const lit = (s) => `'${s.replaceAll("'", "''")}'`;
const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
const reader = await conn.runAndReadAll(
  `COPY (SELECT unnest(checkins, recursive := true) FROM read_json(${lit(glob)})) ` +
  `TO ${lit(out)} (FORMAT parquet, COMPRESSION zstd)`);
const rows = reader.getRows();
const version = (await conn.runAndReadAll('SELECT version()')).getRows()[0][0];
console.log(JSON.stringify({ rows: Number(rows.length ? rows[0][0] : reader.rowsChanged), version }));
